"""bayeskern.features"""
