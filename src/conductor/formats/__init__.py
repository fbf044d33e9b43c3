"""Go/yaml.v3-compatible text formats shared by the store, the bus, the config and the runner.

One home for each rule that used to be copied: integer texts (:mod:`.numbers`), the civil-date
day count (:mod:`.civil`) and the size/depth/alias guard run on YAML before or after a library
composes it (:mod:`.yamlguard`). Leaf modules: they import nothing from the rest of conductor
but :mod:`conductor.lazyre`.
"""
