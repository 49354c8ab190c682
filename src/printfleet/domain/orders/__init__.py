"""Shop orders: orders and their lines as shops report them, product profiles that say how a product is printed,
and the plan that turns an order into scheduled prints. Pure rules, no I/O."""
