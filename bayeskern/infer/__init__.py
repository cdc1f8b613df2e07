"""bayeskern.infer"""
