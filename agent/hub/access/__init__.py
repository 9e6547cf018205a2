"""Access control: the permission table, principals, caches and the one server interceptor."""
