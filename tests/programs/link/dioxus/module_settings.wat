;; Split module `settings`: its split point is never called, so this file
;; is never read (--stats says so).
(module
  (func (export "__wasm_split_00settings00_export_5d41402abc4b2a76b9719d911017c592_open_settings") unreachable))
