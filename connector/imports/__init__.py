"""CSV imports: ``parsing`` reads rows into claims (pure), ``reader`` opens files, ``planner`` plans,
``applier`` writes the plan in one transaction. Importing this package loads none of them."""
