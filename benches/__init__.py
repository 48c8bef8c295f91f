"""Benchmarks of quiver against dlt and the physical floor; see benches/README.md."""
