"""Machine learning: churn on an operator's own table, next best offer, lifetime value, the model registry and
imported external scores."""
