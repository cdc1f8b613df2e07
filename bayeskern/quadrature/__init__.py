"""bayeskern.quadrature"""
