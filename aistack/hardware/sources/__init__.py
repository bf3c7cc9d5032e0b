"""aistack.hardware.sources"""
