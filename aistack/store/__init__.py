"""aistack.store"""
