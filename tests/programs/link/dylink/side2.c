// A side module that links against another one: wasm-ld records
// side.wasm in its dylink.0 WASM_DYLINK_NEEDED list (see ../build.sh), and
// side_sum comes from it.
int side_sum(int n);

__attribute__((visibility("default"))) int side2_twice_sum(int n) {
  return 2 * side_sum(n);
}
