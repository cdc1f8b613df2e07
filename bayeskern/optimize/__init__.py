"""bayeskern.optimize"""
