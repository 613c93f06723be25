;; A WASI guest that runs the path operations named by its arguments, in
;; order, and writes one byte per operation to stdout: the errno it got
;; (0 = success). Used by cli/tests/wasi_sandbox.rs.
;;
;; Each argument is an opcode character, then its operands, each preceded by
;; one space (paths here never hold spaces):
;;   m PATH            path_create_directory
;;   f PATH            path_open(CREAT) a regular file, then close it
;;   s TARGET LINK     path_symlink
;;   l OLD NEW         path_link, lookup flags 0
;;   L OLD NEW         path_link with LOOKUP_SYMLINK_FOLLOW
;;   r OLD NEW         path_rename
;;   R PATH            path_remove_directory
;;   u PATH            path_unlink_file
;;   d PATH            path_open(DIRECTORY): later operations work relative
;;                     to the directory opened (if it succeeded)
;;   D                 back to the preopen (fd 3)
;; Paths are relative to the current directory fd (initially 3, the first
;; preopen). An unknown opcode reports 255. Exit status 0 once all ran.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  ;; 0: argc, 4: argv buffer size, 16: iovec, 24: nwritten, 28: opened fd,
  ;; 1024..2048: argv (at most 256 arguments), 2048..2304: results,
  ;; 4096..: argument strings (at most 60 KiB).
  (memory (export "memory") 2)

  (global $cur (mut i32) (i32.const 3))

  ;; The operands of one argument: a = [a, a+alen), b = [b, b+blen).
  (global $a (mut i32) (i32.const 0))
  (global $alen (mut i32) (i32.const 0))
  (global $b (mut i32) (i32.const 0))
  (global $blen (mut i32) (i32.const 0))

  ;; Splits the NUL-terminated operands starting at $p at the first space.
  (func $split (param $p i32)
    (local $q i32)
    (local.set $q (local.get $p))
    (block $done
      (loop $scan
        (br_if $done (i32.eqz (i32.load8_u (local.get $q))))
        (br_if $done (i32.eq (i32.load8_u (local.get $q)) (i32.const 32)))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (br $scan)))
    (global.set $a (local.get $p))
    (global.set $alen (i32.sub (local.get $q) (local.get $p)))
    (if (i32.eqz (i32.load8_u (local.get $q)))
      (then
        (global.set $b (local.get $q))
        (global.set $blen (i32.const 0)))
      (else
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (global.set $b (local.get $q))
        (block $end
          (loop $scan2
            (br_if $end (i32.eqz (i32.load8_u (local.get $q))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (br $scan2)))
        (global.set $blen (i32.sub (local.get $q) (global.get $b))))))

  ;; path_open of operand a, following symlinks, with every right in
  ;; $base and every inheriting right.
  (func $open (param $oflags i32) (param $base i64) (result i32)
    (call $path_open (global.get $cur) (i32.const 1) (global.get $a) (global.get $alen)
      (local.get $oflags) (local.get $base) (i64.const -1) (i32.const 0) (i32.const 28)))

  ;; Runs the argument at $p; returns its errno.
  (func $run (param $p i32) (result i32)
    (local $op i32) (local $e i32)
    (local.set $op (i32.load8_u (local.get $p)))
    (if (i32.eq (local.get $op) (i32.const 68)) ;; D
      (then (global.set $cur (i32.const 3)) (return (i32.const 0))))
    ;; Operands start after the opcode and one space.
    (call $split (i32.add (local.get $p)
      (select (i32.const 1) (i32.const 2) (i32.eqz (i32.load8_u offset=1 (local.get $p))))))
    (if (i32.eq (local.get $op) (i32.const 109)) ;; m
      (then (return (call $path_create_directory (global.get $cur) (global.get $a) (global.get $alen)))))
    (if (i32.eq (local.get $op) (i32.const 102)) ;; f
      (then
        (local.set $e (call $open (i32.const 1) (i64.const -1)))
        (if (i32.eqz (local.get $e))
          (then (drop (call $fd_close (i32.load (i32.const 28))))))
        (return (local.get $e))))
    (if (i32.eq (local.get $op) (i32.const 100)) ;; d
      (then
                ;; No write rights (FD_WRITE, FD_ALLOCATE, FD_FILESTAT_SET_SIZE):
        ;; a directory cannot be opened for writing.
        (local.set $e (call $open (i32.const 2) (i64.const 0xffffffffffbffebf)))
        (if (i32.eqz (local.get $e))
          (then (global.set $cur (i32.load (i32.const 28)))))
        (return (local.get $e))))
    (if (i32.eq (local.get $op) (i32.const 115)) ;; s
      (then (return (call $path_symlink (global.get $a) (global.get $alen)
        (global.get $cur) (global.get $b) (global.get $blen)))))
    (if (i32.eq (local.get $op) (i32.const 108)) ;; l
      (then (return (call $path_link (global.get $cur) (i32.const 0) (global.get $a) (global.get $alen)
        (global.get $cur) (global.get $b) (global.get $blen)))))
    (if (i32.eq (local.get $op) (i32.const 76)) ;; L
      (then (return (call $path_link (global.get $cur) (i32.const 1) (global.get $a) (global.get $alen)
        (global.get $cur) (global.get $b) (global.get $blen)))))
    (if (i32.eq (local.get $op) (i32.const 114)) ;; r
      (then (return (call $path_rename (global.get $cur) (global.get $a) (global.get $alen)
        (global.get $cur) (global.get $b) (global.get $blen)))))
    (if (i32.eq (local.get $op) (i32.const 82)) ;; R
      (then (return (call $path_remove_directory (global.get $cur) (global.get $a) (global.get $alen)))))
    (if (i32.eq (local.get $op) (i32.const 117)) ;; u
      (then (return (call $path_unlink_file (global.get $cur) (global.get $a) (global.get $alen)))))
    (i32.const 255))

  (func (export "_start")
    (local $i i32) (local $n i32)
    (if (call $args_sizes_get (i32.const 0) (i32.const 4))
      (then (call $proc_exit (i32.const 2))))
    (local.set $n (i32.load (i32.const 0)))
    (if (i32.or (i32.gt_u (local.get $n) (i32.const 256))
                (i32.gt_u (i32.load (i32.const 4)) (i32.const 61440)))
      (then (call $proc_exit (i32.const 3))))
    (if (call $args_get (i32.const 1024) (i32.const 4096))
      (then (call $proc_exit (i32.const 4))))
    ;; argv[0] is the program name.
    (local.set $i (i32.const 1))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (i32.store8 (i32.add (i32.const 2047) (local.get $i))
          (call $run (i32.load (i32.add (i32.const 1024) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each)))
    ;; One byte per operation, to stdout.
    (i32.store (i32.const 16) (i32.const 2048))
    (i32.store (i32.const 20) (i32.sub (local.get $n) (i32.const 1)))
    (if (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))
      (then (call $proc_exit (i32.const 5)))))
)
