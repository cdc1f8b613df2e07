"""bayeskern.diagnostics"""
