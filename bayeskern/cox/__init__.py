"""bayeskern.cox"""
