"""bayeskern.linalg"""
