"""Rule packs: rules as data, compiled into predicates over event facts."""
