"""Real footage for tests: Debian-packaged clips and the small clips derived from them."""
