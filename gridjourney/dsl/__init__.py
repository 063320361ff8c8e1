"""The journey language: schema, YAML loader with positions, expressions, compiler."""
