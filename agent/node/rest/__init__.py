"""The REST front end: an httptools protocol, a router and OIP / friendly API handlers."""
