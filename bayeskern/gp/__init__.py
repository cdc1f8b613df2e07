"""bayeskern.gp"""
