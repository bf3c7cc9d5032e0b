"""aistack.memory"""
