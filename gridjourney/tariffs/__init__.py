"""Rate coaching: the utility's tariffs (tariffs.yaml), each customer's bill under each, and the best."""
