"""Planning: a pure function from (HardwareProfile, Catalog, Request) to a Plan."""
