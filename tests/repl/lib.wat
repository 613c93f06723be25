;; Loaded with `:load`: its fields join the session with their $names.
(module
  (func $double (export "double") (param i32) (result i32)
    local.get 0 i32.const 2 i32.mul))
