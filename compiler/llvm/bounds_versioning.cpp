// Wasabi's own LLVM pass, `wasabi-bounds-versioning`, and the entry point
// that runs an optimisation pipeline with it registered.
//
// Why it exists. Every wasm load and store is emitted as a *volatile* LLVM
// access (compiler/src/translate/memory.rs): with guard pages the access
// itself is the bounds check, so it must not be deleted, merged, widened or
// reordered, or a trap would be lost or would keep later stores. Volatile
// gives exactly that, and also stops LLVM from doing almost anything useful
// with memory in loops: no vectorisation, no load hoisting, no forwarding.
//
// What it does. For each innermost loop whose every memory access is an
// affine function of the loop's iteration (or loop invariant), it emits,
// in the preheader, a check that every address the loop could touch is in
// bounds for its whole trip, and versions the loop:
//   - check passes: a copy whose linear-memory accesses are plain loads and
//     stores. No access in it can trap, so trap exactness holds however
//     LLVM optimises it (every other trap is a call, which LLVM keeps in
//     order with memory).
//   - check fails: the original loop, accesses still volatile, marked not
//     to be unrolled or vectorised (it only runs when the loop will trap,
//     or may: the check over-approximates).
// A two-loop nest (an outer loop whose only inner loop is innermost and
// runs the same trip on every outer iteration) whose every access is an
// affine function of both iterations is versioned as a whole instead: the
// check bounds each inner access at the four corners of the iteration
// rectangle (see `planCheck`), and the in-bounds copy of the nest has no
// volatile access left. Such a copy may then be marked for the second
// pass in this file, `wasabi-unroll-and-jam` (see `UnrollAndJam`). An
// access after the inner loop that depends on where the inner loop
// stopped (clang's remainder iteration) is bounded at that value, which
// the in-bounds copy, whose inner loop always runs, always has (see
// `afterInner`).
// Other loops with inner loops are versioned the same way on their own
// accesses (those outside the inner loops; a small nest only): the inner loops'
// accesses stay volatile in both copies and trap where they happen, so the
// in-bounds copy may make only loads plain unless the inner loops touch no
// memory at all (see `collect`); there the wasm's induction variables are
// also recomputed from one counter (see `widenAddresses`).
// In the in-bounds copy it then says what the check proved, in the form
// LLVM's loop passes read: each address that is the zero extension of a
// 32-bit recurrence becomes base + First + k*Step in 64 bits on a counter k, the exit test becomes k == the latch's exit count, and stores
// sink past later accesses they provably do not overlap (so values a wasm
// compiler carried between iterations in phis are vectorisable recurrences),
// and, when it reads and writes several streams at unknown distances, a
// further test that they are apart picks a copy where each stream has its
// own alias scope.
//
// What must stay true:
//   - In a loop with inner loops, a plain store may not share the in-bounds
//     copy with any volatile access or epoch poll of an inner loop: LLVM
//     may move a plain store past a volatile access, which here can trap.
//   - Only accesses the translator marked `!wasabi.mem` are linear memory;
//     their base pointer is the function's `!wasabi.membase` load, whose
//     metadata gives where the memory's length lives. A loop with any other
//     volatile access (except an epoch poll), an access we cannot bound, or
//     a call that can return, is left alone.
//   - Epoch polls (`!wasabi.poll`) are dropped from the in-bounds copy only
//     for trips of fewer than 2^16 iterations (with no calls in the loop,
//     that bounds the time between two polls); longer trips run a third
//     copy whose polls are compiler barriers for memory.
//   - The check is over the *unwrapped* i32 address sequence
//     u_k = zext(S) + k*sext(Step), k = 0..N (N = the loop's maximum
//     backedge-taken count): if both ends lie in [0, 2^32) the sequence
//     never wraps in 32 bits (it is monotone), so each address is u_k + C
//     (C the constant offset), and if both ends plus C plus the access size
//     are within the memory's length, so is every address in between.
//     Both conditions are checked: u_N + C in bounds does not imply u_N >= 0
//     (tests/hostile/trap-exact-loops.wast has the case).
//   - A whole nest's check covers each inner access at the corners of the
//     rectangle (outer iteration 0 or N, inner 0 or the inner loop's exact
//     trip): affine in both, the address is extreme there, so corners in
//     [0, 2^32) mean no 32-bit wrap anywhere in between. Its steps are
//     small constants, so the corners cannot overflow 64 bits. In a nest,
//     two streams of the outer loop that both store are not tested apart,
//     so they are never marked noalias with each other and keep their
//     order. An access after the inner loop whose address depends on
//     where it stopped is bounded at that exit value only because the
//     check also requires the inner loop's guard to enter (`Skipped`).
//   - The memory never shrinks and its base never moves, so a range in
//     bounds at loop entry stays in bounds for the whole trip.
//   - Arithmetic in the check is on frozen values without nuw/nsw flags, so
//     it cannot be poison, and is bounded so it cannot wrap in 64 bits.
//   - The in-bounds copy's rewrites rely only on the check having passed:
//     its 64-bit addresses equal the wasm ones because the unwrapped
//     sequence was proved to stay in [0, 2^32); its exit test uses the
//     exact exit count of the latch (never the maximum the check uses);
//     a store moves only within its block, past accesses of other bytes
//     in the same iteration and instructions without memory effects;
//     streams are marked noalias only with streams a run-time test found
//     apart over the whole trip, and only where one of the two is written.

#include "llvm-c/Core.h"
#include "llvm-c/TargetMachine.h"
#include "llvm/Analysis/AliasAnalysis.h"
#include "llvm/Analysis/AssumptionCache.h"
#include "llvm/Analysis/DomTreeUpdater.h"
#include "llvm/Analysis/LoopInfo.h"
#include "llvm/Analysis/MemoryLocation.h"
#include "llvm/Analysis/OptimizationRemarkEmitter.h"
#include "llvm/Analysis/ScalarEvolution.h"
#include "llvm/Analysis/ScalarEvolutionExpressions.h"
#include "llvm/Analysis/TargetTransformInfo.h"
#include "llvm/Analysis/ValueTracking.h"
#include "llvm/IR/Dominators.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/InlineAsm.h"
#include "llvm/IR/MDBuilder.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/PassManager.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Passes/StandardInstrumentations.h"
#include "llvm/Support/Error.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Transforms/Scalar/EarlyCSE.h"
#include "llvm/Transforms/Utils/BasicBlockUtils.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "llvm/Transforms/Utils/LoopSimplify.h"
#include "llvm/Transforms/Utils/LoopUtils.h"
#include "llvm/Transforms/Utils/ScalarEvolutionExpander.h"
#include "llvm/Transforms/Utils/UnrollLoop.h"

#include <cstring>
#include <optional>

using namespace llvm;

namespace {

// Metadata kinds shared with compiler/src/translate/memory.rs.
constexpr const char *kMemKind = "wasabi.mem";
constexpr const char *kBaseKind = "wasabi.membase";
constexpr const char *kPollKind = "wasabi.poll";
// Loop metadata: the in-bounds copy of a whole nest worth unroll-and-jam.
constexpr const char *kJamKind = "wasabi.unroll_and_jam";
// How many iterations of the outer loop a jammed inner loop runs at once.
constexpr unsigned kJamCount = 4;
// The largest inner loop (instructions) jammed, before the copies.
constexpr unsigned kMaxJamInnerInstructions = 64;

// The in-bounds copy without epoch polls (they would keep it from being
// vectorised) runs trips of fewer than this many iterations: with no calls
// in the loop, that bounds the time between two polls.
constexpr uint64_t kMaxUnpolledIterations = 1 << 16;

// At most this many loops are versioned per function: each copy costs
// compile time, and a function with more hot loops than this is rare.
constexpr unsigned kMaxLoopsPerFunction = 32;

// A loop with inner loops is versioned only if the whole nest has at most
// this many instructions: its copy duplicates every inner loop (and their
// own copies), and a big nest spends its time in its inner loops anyway.
constexpr unsigned kMaxNestInstructions = 400;

// One linear-memory access of a candidate loop, reduced to the offsets its
// check needs (i64 SCEVs relative to the memory base, inclusive of the
// access's static offset).
struct Access {
  Instruction *Inst;
  LoadInst *Base;
  uint64_t Size;
  // The offset is C + zext(X32) where X32 is invariant or an affine i32
  // recurrence of the loop (the translator's form), or an i64 expression
  // that is invariant or an affine recurrence (what LLVM makes of it once it
  // proves the zero extension cannot wrap).
  const SCEV *Start = nullptr; // i32 start (Zext) or i64 start (Wide)
  const SCEV *Step = nullptr;  // same type as Start; null when invariant
  uint64_t Const = 0;          // C, only for Zext
  bool Zext = false;
  // The i64 offset of the first iteration's access and the i64 step, as
  // computed by the check in the preheader; set by `planCheck` for a Zext
  // recurrence, whose in-bounds copy then gets a 64-bit address.
  Value *First64 = nullptr;
  Value *Step64 = nullptr;
  // The bytes [Lo, Hi) the access touches over the whole trip (i64
  // offsets, computed by the check; meaningful once it passed).
  Value *Lo = nullptr;
  Value *Hi = nullptr;
  // In a whole-nest plan (see `Plan::Sub`), an access of the inner loop:
  // Start and Step describe it over the inner loop, and Start is itself
  // invariant in the outer loop or an affine recurrence of it, whose
  // first value Start then is and whose constant step OuterStep is (null
  // when invariant).
  bool Inner = false;
  const SCEV *OuterStep = nullptr;
  // For an inner Zext access, the i64 outer step the check computed (with
  // First64 and Step64 the start and the inner step): its address in the
  // in-bounds copy is then First64 + j*OuterStep64 + k*Step64.
  Value *OuterStep64 = nullptr;
};

// A loop to version: its in-bounds condition, computed in its preheader.
struct Plan {
  Loop *L;
  Value *Ok;
  SmallVector<Access, 16> Accesses;
  SmallVector<LoadInst *, 2> Polls;
  // The maximum backedge-taken count, as an i64 computed before `Ok`.
  Value *N = nullptr;
  // How many times the backedge is taken before the latch exits (an i64
  // computed before `Ok`), when ScalarEvolution knows it exactly: the
  // in-bounds copy's exit test becomes a compare of a 64-bit counter
  // with it (see `widenAddresses`).
  Value *LatchCount = nullptr;
  // For a loop with inner loops: whether they access memory at all
  // (volatile accesses, epoch polls). Those accesses stay volatile in both
  // copies, so the plan may then make only loads plain (see `collect`).
  bool InnerAccesses = false;
  // For a loop with inner loops: the header's affine integer phis (other
  // than ones ScalarEvolution cannot describe) and their constant steps,
  // which the in-bounds copy computes from its counter (see
  // `widenAddresses`).
  SmallVector<std::pair<PHINode *, APInt>, 4> Ivs;
  // A whole-nest plan: `L`'s only inner loop, innermost, whose trip count
  // does not change from one iteration of `L` to the next. The check then
  // bounds the inner loop's accesses too, over every iteration of both
  // loops, and the in-bounds copy has no volatile access at all (see
  // `collect`, `analyseInner`).
  Loop *Sub = nullptr;
  // The inner loop's exact backedge-taken count, an i64 computed before
  // `Ok` (whole-nest plans only).
  Value *SubN = nullptr;
  // The branch in the outer loop that skips the inner loop when its trip
  // is empty (a loop rotated from `while (k < m)`), if its condition is
  // invariant: the check requires it to enter, and the in-bounds copy
  // then enters unconditionally (whole-nest plans only).
  BranchInst *Guard = nullptr;
  // The block of the guard whose incoming values `afterInner` left out
  // of phis after the inner loop: the check requires `Guard` to be in it
  // (whole-nest plans only).
  BasicBlock *Skipped = nullptr;
};

// Where the length of the memory behind a base load lives: the memory's
// definition pointer at `P + DefDelta` (P = the base load's address), and
// the length at `definition + LenOffset`.
struct BaseInfo {
  int64_t DefDelta;
  int64_t LenOffset;
};

std::optional<BaseInfo> baseInfo(LoadInst *Base, unsigned BaseKind) {
  MDNode *N = Base->getMetadata(BaseKind);
  if (!N || N->getNumOperands() != 2)
    return std::nullopt;
  auto *D = mdconst::dyn_extract<ConstantInt>(N->getOperand(0));
  auto *L = mdconst::dyn_extract<ConstantInt>(N->getOperand(1));
  if (!D || !L)
    return std::nullopt;
  return BaseInfo{D->getSExtValue(), L->getSExtValue()};
}

class Versioner {
public:
  Versioner(Function &F, DominatorTree &DT, LoopInfo &LI, ScalarEvolution &SE,
            AssumptionCache &AC)
      : F(F), DT(DT), LI(LI), SE(SE), AC(AC),
        DL(F.getParent()->getDataLayout()),
        MemKind(F.getContext().getMDKindID(kMemKind)),
        BaseKind(F.getContext().getMDKindID(kBaseKind)),
        PollKind(F.getContext().getMDKindID(kPollKind)) {}

  // Set when the IR changed, even if no loop was then versioned
  // (canonicalising a loop changes it).
  bool Modified = false;

  // Versions every qualifying loop; returns how many. Checks are planned
  // (and expanded into the preheaders) for all loops first, while
  // ScalarEvolution is valid, and the loops are cloned after. Innermost
  // loops come first, then loops with inner loops, deepest first: an outer
  // loop is canonicalised and planned after the loops it contains, and
  // cloned after them, so both of its copies contain their versions (each
  // still behind its own check, which stays sound wherever it runs).
  unsigned versionAll() {
    SmallVector<Plan, 8> Plans;
    SmallVector<Loop *, 8> Loops = LI.getLoopsInPreorder();
    SmallVector<Loop *, 8> Order;
    for (Loop *L : Loops)
      if (L->isInnermost())
        Order.push_back(L);
    for (Loop *L : reverse(Loops))
      if (!L->isInnermost())
        Order.push_back(L);
    // Two-loop nests whose every access can be bounded over the whole
    // nest, and which unroll-and-jam pays for, are versioned as one,
    // first: their in-bounds copy is then free of volatile accesses, inner
    // loop included, so its inner loop may run for several outer
    // iterations at once (see `UnrollAndJam`). Their loops are not planned
    // again on their own. Other nests keep the loop-by-loop versioning,
    // whose streams are tested apart over one inner trip rather than the
    // whole nest (rows i and k of k_lu overlap over the nest).
    SmallPtrSet<Loop *, 8> Taken;
    for (Loop *L : reverse(Loops)) {
      if (Plans.size() == kMaxLoopsPerFunction)
        break;
      if (L->getSubLoops().size() != 1 || nestSize(L) > kMaxNestInstructions)
        continue;
      Loop *S = L->getSubLoops().front();
      if (!S->isInnermost())
        continue;
      Plan P{L, nullptr, {}, {}, nullptr, nullptr};
      P.Sub = S;
      if (!collect(P) || !worthJamming(P))
        continue;
      if ((P.Ok = planCheck(P))) {
        Taken.insert(L);
        Taken.insert(S);
        Plans.push_back(std::move(P));
      }
    }
    for (Loop *L : Order) {
      if (Plans.size() == kMaxLoopsPerFunction)
        break;
      if (Taken.count(L))
        continue;
      if (!L->isInnermost() && nestSize(L) > kMaxNestInstructions)
        continue;
      Plan P{L, nullptr, {}, {}, nullptr, nullptr};
      if (!collect(P))
        continue;
      if ((P.Ok = planCheck(P)))
        Plans.push_back(std::move(P));
    }
    bool Cloned = false;
    for (Plan &P : Plans) {
      // Cloning a nest needs the dominator tree right for all of it, and
      // the clones of its inner loops left it right only where later
      // clones of innermost loops look.
      if (Cloned && !P.L->isInnermost())
        DT.recalculate(F);
      clone(P);
      Cloned = true;
    }
    if (!Plans.empty())
      DT.recalculate(F);
    return Plans.size();
  }

private:
  Function &F;
  DominatorTree &DT;
  LoopInfo &LI;
  ScalarEvolution &SE;
  AssumptionCache &AC;
  const DataLayout &DL;
  unsigned MemKind, BaseKind, PollKind;

  // Instructions in `L` and its inner loops.
  unsigned nestSize(Loop *L) {
    unsigned N = 0;
    for (BasicBlock *BB : L->blocks())
      N += BB->size();
    return N;
  }

  // Whether every volatile access of `P.L`'s own blocks (those not in an
  // inner loop) is a marked linear-memory access we can bound, or an epoch
  // poll, and there is at least one access; fills `P.Accesses` and
  // `P.Polls`. The accesses of inner loops stay volatile and are checked
  // where they happen, as without the pass, except loads whose address is
  // invariant in `P.L` or affine in its iteration, which join the check. Then only loads may become
  // plain: an inner access can trap in the middle of the trip, and plain
  // stores are free to move past it (LLVM does not know a volatile access
  // can trap), so a trap could lose a store. Plain loads change nothing
  // a trap shows.
  bool collect(Plan &P) {
    Loop *L = P.L;
    // A loop that can leave from several places (a search) is not
    // vectorised and gains little from plain accesses, for the compile time
    // a copy costs (measured: half the candidates of the Rust benchmarks,
    // no run-time change). Exits to a trap do not count.
    SmallVector<BasicBlock *, 4> Exits;
    L->getUniqueExitBlocks(Exits);
    unsigned Normal = 0;
    for (BasicBlock *E : Exits)
      if (!isa<UnreachableInst>(E->getTerminator()))
        ++Normal;
    if (Normal > 1)
      return false;
    for (BasicBlock *BB : L->blocks()) {
      for (Instruction &I : *BB) {
        Value *Ptr = nullptr;
        Type *Ty = nullptr;
        bool Volatile = false;
        if (auto *Ld = dyn_cast<LoadInst>(&I)) {
          Ptr = Ld->getPointerOperand();
          Ty = Ld->getType();
          Volatile = Ld->isVolatile();
          if (Ld->isAtomic())
            return false;
        } else if (auto *St = dyn_cast<StoreInst>(&I)) {
          Ptr = St->getPointerOperand();
          Ty = St->getValueOperand()->getType();
          Volatile = St->isVolatile();
          if (St->isAtomic())
            return false;
        } else if (isa<AtomicRMWInst>(I) || isa<AtomicCmpXchgInst>(I) ||
                   isa<FenceInst>(I)) {
          return false;
        } else if (auto *MI = dyn_cast<MemIntrinsic>(&I)) {
          if (MI->isVolatile())
            return false;
        } else if (auto *CB = dyn_cast<CallBase>(&I)) {
          // A loop that calls out spends its time elsewhere and keeps its
          // memory in memory around the calls: not worth a copy. Trap
          // calls (noreturn) and pure intrinsics are fine.
          bool Pure = isa<IntrinsicInst>(CB) && !CB->mayReadOrWriteMemory();
          if (!Pure && !CB->doesNotReturn())
            return false;
        }
        if (!Volatile)
          continue;
        bool Own = LI.getLoopFor(BB) == L;
        if (I.getMetadata(PollKind) && isa<LoadInst>(I) && I.use_empty()) {
          // A nest with epoch polls keeps them where they are: it is
          // versioned loop by loop.
          if (P.Sub)
            return false;
          if (Own)
            P.Polls.push_back(cast<LoadInst>(&I));
          else
            P.InnerAccesses = true;
          continue;
        }
        if (!I.getMetadata(MemKind))
          return false;
        Access A;
        A.Inst = &I;
        A.Size = DL.getTypeStoreSize(Ty).getFixedValue();
        if (!Own && P.Sub) {
          if (!analyseInner(L, P.Sub, Ptr, A))
            return false;
          P.Accesses.push_back(A);
          continue;
        }
        if (!Own) {
          P.InnerAccesses = true;
          if (isa<LoadInst>(I) && analyse(L, Ptr, A))
            P.Accesses.push_back(A);
          continue;
        }
        if (!analyse(L, Ptr, A, P.Sub ? &P : nullptr))
          return false;
        P.Accesses.push_back(A);
      }
    }
    if (P.InnerAccesses)
      for (const Access &A : P.Accesses)
        if (isa<StoreInst>(A.Inst))
          return false;
    return !P.Accesses.empty();
  }

  // `analyse` for an access of `S`, the inner loop of a whole-nest plan
  // for `L`: an affine recurrence of `S` (or invariant in it) whose start
  // is invariant in `L` or an affine recurrence of `L`. Steps are
  // constants of at most 2^29 in magnitude, so the corners the check
  // computes (at most 2^32 iterations of each loop, a start under 2^32)
  // stay under 2^63 in magnitude.
  bool analyseInner(Loop *L, Loop *S, Value *Ptr, Access &A) {
    if (!analyse(S, Ptr, A))
      return false;
    auto small = [](const SCEV *X) {
      auto *C = dyn_cast<SCEVConstant>(X);
      return C && C->getAPInt().getSignificantBits() <= 30;
    };
    if (A.Step && !small(A.Step))
      return false;
    A.Inner = true;
    if (SE.isLoopInvariant(A.Start, L))
      return true;
    auto *AR = dyn_cast<SCEVAddRecExpr>(A.Start);
    if (!AR || AR->getLoop() != L || !AR->isAffine() ||
        !small(AR->getStepRecurrence(SE)))
      return false;
    A.Start = AR->getStart();
    A.OuterStep = AR->getStepRecurrence(SE);
    return true;
  }

  // In a whole-nest plan `P`, an access of the outer loop after the inner
  // one may depend on where the inner loop stopped, through a phi that
  // merges it with what the inner loop's guard skipped with (clang's
  // remainder iteration after a loop it unrolled: `C[i][j]` for the `j`
  // the unrolled loop reached, or 0). In the in-bounds copy the guard
  // always enters (`enterUnguarded`), so such a phi is the value from the
  // inner loop's side: this rewrites `X` with that value, as
  // ScalarEvolution computes it at the inner loop's exit, and notes the
  // guard's block in `P.Skipped` (`planCheck` then requires the guard to
  // be that block's branch). Phis of any other form stay unknowns.
  const SCEV *afterInner(Plan &P, const SCEV *X) {
    struct Rewriter : SCEVRewriteVisitor<Rewriter> {
      Plan &P;
      BasicBlock *Guard;
      bool Used = false;
      Rewriter(ScalarEvolution &SE, Plan &P, BasicBlock *Guard)
          : SCEVRewriteVisitor(SE), P(P), Guard(Guard) {}
      const SCEV *visitUnknown(const SCEVUnknown *U) {
        auto *Phi = dyn_cast<PHINode>(U->getValue());
        if (!Phi || !P.L->contains(Phi) || P.Sub->contains(Phi))
          return U;
        Value *V = nullptr;
        bool FromGuard = false;
        for (unsigned I = 0; I < Phi->getNumIncomingValues(); ++I) {
          if (Phi->getIncomingBlock(I) == Guard) {
            FromGuard = true;
            continue;
          }
          if (V && V != Phi->getIncomingValue(I))
            return U;
          V = Phi->getIncomingValue(I);
        }
        if (!V || !FromGuard)
          return U;
        const SCEV *At = SE.getSCEVAtScope(SE.getSCEV(V), P.L);
        if (isa<SCEVCouldNotCompute>(At) || !SE.isLoopInvariant(At, P.Sub))
          return U;
        Used = true;
        return At;
      }
    };
    BasicBlock *SPH = P.Sub->getLoopPreheader();
    BasicBlock *Guard = SPH ? SPH->getSinglePredecessor() : nullptr;
    if (!Guard)
      return X;
    Rewriter R(SE, P, Guard);
    const SCEV *Y = R.visit(X);
    if (R.Used)
      P.Skipped = Guard;
    return Y;
  }

  bool analyse(Loop *L, Value *Ptr, Access &A, Plan *Nest = nullptr) {
    auto *Base = dyn_cast<LoadInst>(getUnderlyingObject(Ptr, 0));
    if (!Base || !Base->getMetadata(BaseKind) || !baseInfo(Base, BaseKind))
      return false;
    A.Base = Base;
    const SCEV *Off =
        SE.getMinusSCEV(SE.getSCEV(Ptr), SE.getSCEV(Base));
    if (isa<SCEVCouldNotCompute>(Off) || !Off->getType()->isIntegerTy(64))
      return false;
    if (Nest)
      Off = afterInner(*Nest, Off);
    if (SE.isLoopInvariant(Off, L)) {
      A.Start = Off;
      return true;
    }
    if (auto *AR = dyn_cast<SCEVAddRecExpr>(Off)) {
      // An i64 recurrence: LLVM proved the zero extension does not wrap.
      auto *C = dyn_cast<SCEVConstant>(AR->getStepRecurrence(SE));
      if (AR->getLoop() != L || !AR->isAffine() || !C)
        return false;
      int64_t S = C->getAPInt().getSExtValue();
      if (S <= -(int64_t(1) << 31) || S >= (int64_t(1) << 31))
        return false;
      A.Start = AR->getStart();
      A.Step = C;
      return true;
    }
    // C + zext(X32), or zext(X32).
    const SCEVZeroExtendExpr *Z = nullptr;
    uint64_t Const = 0;
    auto take = [&](const SCEV *Op) {
      if (auto *K = dyn_cast<SCEVConstant>(Op)) {
        if (K->getAPInt().getActiveBits() > 32)
          return false;
        Const += K->getAPInt().getZExtValue();
        return true;
      }
      if (auto *ZE = dyn_cast<SCEVZeroExtendExpr>(Op)) {
        if (Z)
          return false;
        Z = ZE;
        return true;
      }
      return false;
    };
    if (auto *Add = dyn_cast<SCEVAddExpr>(Off)) {
      for (const SCEV *Op : Add->operands())
        if (!take(Op))
          return false;
    } else if (!take(Off)) {
      return false;
    }
    if (!Z || !Z->getOperand()->getType()->isIntegerTy(32))
      return false;
    auto *AR = dyn_cast<SCEVAddRecExpr>(Z->getOperand());
    if (!AR || AR->getLoop() != L || !AR->isAffine())
      return false;
    A.Zext = true;
    A.Const = Const;
    A.Start = AR->getStart();
    A.Step = AR->getStepRecurrence(SE);
    return true;
  }

  // For a latch that exits when an affine value V = {S,+,C} (C = +-2^Shift)
  // equals an invariant E, the distance V has to cover, (E - S) or (S - E)
  // in V's width: the latch exits after Distance / 2^Shift backedges when
  // 2^Shift divides it. ScalarEvolution gives no count for this when it
  // cannot prove the divisibility (a start computed before the loop, as in
  // clang's unrolled loops after their remainder); the check tests it at
  // run time instead. Null if the latch is not of this form.
  const SCEV *latchDistance(Loop *L, unsigned &Shift) {
    BasicBlock *Latch = L->getLoopLatch();
    auto *Br = Latch ? dyn_cast<BranchInst>(Latch->getTerminator()) : nullptr;
    if (!Br || !Br->isConditional())
      return nullptr;
    auto *Cmp = dyn_cast<ICmpInst>(Br->getCondition());
    if (!Cmp || !Cmp->isEquality() ||
        !Cmp->getOperand(0)->getType()->isIntegerTy() ||
        Cmp->getOperand(0)->getType()->getIntegerBitWidth() > 64)
      return nullptr;
    bool ExitOnTrue = !L->contains(Br->getSuccessor(0));
    if (ExitOnTrue != (Cmp->getPredicate() == ICmpInst::ICMP_EQ))
      return nullptr;
    const SCEV *V = SE.getSCEV(Cmp->getOperand(0));
    const SCEV *E = SE.getSCEV(Cmp->getOperand(1));
    if (!SE.isLoopInvariant(E, L))
      std::swap(V, E);
    auto *AR = dyn_cast<SCEVAddRecExpr>(V);
    if (!AR || AR->getLoop() != L || !AR->isAffine() ||
        !SE.isLoopInvariant(E, L))
      return nullptr;
    auto *C = dyn_cast<SCEVConstant>(AR->getStepRecurrence(SE));
    if (!C)
      return nullptr;
    APInt Step = C->getAPInt();
    bool Down = Step.isNegative();
    APInt Abs = Down ? -Step : Step;
    if (!Abs.isPowerOf2())
      return nullptr;
    Shift = Abs.logBase2();
    return Down ? SE.getMinusSCEV(AR->getStart(), E)
                : SE.getMinusSCEV(E, AR->getStart());
  }

  // The guard of a whole nest's inner loop (see `Plan::Guard`): the
  // conditional branch into its preheader, from a block of the outer loop,
  // on a comparison of values defined outside the outer loop, whose other
  // way goes to where the inner loop exits to (directly or through its
  // dedicated exit block). Null if there is none of this form.
  BranchInst *subGuard(const Plan &P) {
    BasicBlock *SPH = P.Sub->getLoopPreheader();
    BasicBlock *Exit = P.Sub->getExitBlock();
    BasicBlock *G = SPH ? SPH->getSinglePredecessor() : nullptr;
    if (!G || !Exit || !P.L->contains(G) || P.Sub->contains(G))
      return nullptr;
    auto *Br = dyn_cast<BranchInst>(G->getTerminator());
    if (!Br || !Br->isConditional())
      return nullptr;
    auto *Cmp = dyn_cast<ICmpInst>(Br->getCondition());
    if (!Cmp || !P.L->isLoopInvariant(Cmp->getOperand(0)) ||
        !P.L->isLoopInvariant(Cmp->getOperand(1)))
      return nullptr;
    BasicBlock *Other =
        Br->getSuccessor(0) == SPH ? Br->getSuccessor(1) : Br->getSuccessor(0);
    if (Other == SPH || (Other != Exit && Other != Exit->getSingleSuccessor()))
      return nullptr;
    return Br;
  }

  // Puts the loop in canonical form and emits its check before the
  // preheader's terminator; null if the loop cannot be checked.
  Value *planCheck(Plan &P) {
    Loop *L = P.L;
    ArrayRef<Access> Accesses = P.Accesses;
    // Canonical form: a preheader, one latch, dedicated exits, LCSSA, so the
    // loop can be cloned and its values reach the outside through phis.
    Modified |=
        simplifyLoop(L, &DT, &LI, &SE, &AC, nullptr, /*PreserveLCSSA=*/false);
    if (!L->isLoopSimplifyForm())
      return nullptr;
    Modified |= formLCSSARecursively(*L, DT, &LI, &SE);
    BasicBlock *Check = L->getLoopPreheader();
    Instruction *At = Check->getTerminator();
    const SCEV *BTC = SE.getSymbolicMaxBackedgeTakenCount(L);
    // Facts the counts below hold under, checked at run time with the rest
    // (e.g. that a 32-bit counter stepping by 16 up to an `==` exit does not
    // wrap first: wasm keeps no `i < n`, and a compiler's unrolled loops
    // often start where only the remainder loop before them says that the
    // distance to the end is a multiple of the step).
    SmallVector<const SCEVPredicate *, 4> Preds;
    if (isa<SCEVCouldNotCompute>(BTC))
      BTC = SE.getPredicatedSymbolicMaxBackedgeTakenCount(L, Preds);
    unsigned Shift = 0;
    const SCEV *Dist = nullptr;
    if (isa<SCEVCouldNotCompute>(BTC)) {
      if (!(Dist = latchDistance(L, Shift)))
        return nullptr;
    } else if (BTC->getType()->getIntegerBitWidth() > 64) {
      return nullptr;
    }

    SCEVExpander Exp(SE, DL, "wasabi.bounds");
    auto safe = [&](const SCEV *S) {
      return S && Exp.isSafeToExpandAt(S, At);
    };
    if (!safe(Dist ? Dist : BTC))
      return nullptr;
    for (const Access &A : Accesses) {
      if (!DT.dominates(A.Base, At) || !safe(A.Start) ||
          (A.Step && !safe(A.Step)))
        return nullptr;
    }
    // A whole nest: the inner loop's trip, the same on every iteration of
    // `L`, computed once before it.
    const SCEV *SubBTC = nullptr;
    if (P.Sub) {
      SubBTC = SE.getBackedgeTakenCount(P.Sub);
      if (isa<SCEVCouldNotCompute>(SubBTC) ||
          SubBTC->getType()->getIntegerBitWidth() > 64 ||
          !SE.isLoopInvariant(SubBTC, L) || !safe(SubBTC))
        return nullptr;
    }

    IRBuilder<> B(At);
    Type *I64 = B.getInt64Ty();
    Type *I8 = B.getInt8Ty();
    // Each expression once: the in-bounds copy's addresses are built from
    // these values, and a load and a store of the same address must get the
    // same one, or ScalarEvolution sees two unknowns (two freezes) and the
    // vectoriser a possible overlap that its run-time check then always
    // finds.
    DenseMap<const SCEV *, Value *> Expanded;
    auto expand = [&](const SCEV *S) -> Value * {
      Value *&V = Expanded[S];
      if (!V)
        V = B.CreateFreeze(Exp.expandCodeFor(S, S->getType(), At));
      return V;
    };
    Value *N;
    Value *Ok = B.getTrue();
    if (Dist) {
      // The latch exits after Dist / 2^Shift backedges if 2^Shift divides
      // Dist; otherwise the counter wraps past the exit value and the loop
      // runs until something traps: the exact copy's business.
      Value *D = expand(Dist);
      Ok = B.CreateICmpEQ(
          B.CreateAnd(D, ConstantInt::get(D->getType(), (uint64_t(1) << Shift) - 1)),
          ConstantInt::get(D->getType(), 0));
      N = B.CreateLShr(D, Shift);
    } else {
      N = expand(BTC);
    }
    if (!L->isInnermost())
      for (PHINode &Phi : L->getHeader()->phis()) {
        if (!Phi.getType()->isIntegerTy() ||
            Phi.getType()->getIntegerBitWidth() > 64)
          continue;
        auto *AR = dyn_cast<SCEVAddRecExpr>(SE.getSCEV(&Phi));
        if (!AR || AR->getLoop() != L || !AR->isAffine())
          continue;
        if (auto *C = dyn_cast<SCEVConstant>(AR->getStepRecurrence(SE)))
          P.Ivs.push_back({&Phi, C->getAPInt()});
      }
    bool Wide = N->getType()->getIntegerBitWidth() > 32;
    N = B.CreateZExt(N, I64); // a no-op for i64; the width is at most 64
    if (Wide)
      Ok = B.CreateAnd(Ok, B.CreateICmpULE(N, B.getInt64(uint64_t(1) << 32)));
    P.N = N;
    if (SubBTC) {
      P.SubN = B.CreateZExt(expand(SubBTC), I64);
      Ok = B.CreateAnd(Ok, B.CreateICmpULE(P.SubN, B.getInt64(uint64_t(1) << 32)));
      P.Guard = subGuard(P);
      if (P.Skipped && (!P.Guard || P.Guard->getParent() != P.Skipped))
        return nullptr;
      if (P.Guard) {
        auto *Cmp = cast<ICmpInst>(P.Guard->getCondition());
        Value *Enters = B.CreateICmp(Cmp->getPredicate(),
                                     B.CreateFreeze(Cmp->getOperand(0)),
                                     B.CreateFreeze(Cmp->getOperand(1)));
        if (P.Guard->getSuccessor(0) != P.Sub->getLoopPreheader())
          Enters = B.CreateNot(Enters);
        Ok = B.CreateAnd(Ok, Enters);
      }
    }
    if (Dist) {
      P.LatchCount = N;
    } else if (BasicBlock *Latch = L->getLoopLatch()) {
      const SCEV *EC = SE.getExitCount(L, Latch);
      if (isa<SCEVCouldNotCompute>(EC) && L->getExitingBlock() == Latch)
        EC = SE.getPredicatedBackedgeTakenCount(L, Preds);
      auto *Br = dyn_cast<BranchInst>(Latch->getTerminator());
      if (Br && Br->isConditional() && !isa<SCEVCouldNotCompute>(EC) &&
          EC->getType()->getIntegerBitWidth() <= 64 && safe(EC))
        P.LatchCount = B.CreateZExt(expand(EC), I64);
    }

    // The length of each memory, loaded once; `len - 16` cannot wrap once
    // `len != 0` (lengths are whole 64 KiB pages).
    DenseMap<LoadInst *, Value *> Limits;
    auto limitFor = [&](LoadInst *Base, uint64_t Size) -> Value * {
      auto It = Limits.find(Base);
      Value *Len;
      if (It != Limits.end()) {
        Len = It->second;
      } else {
        BaseInfo BI = *baseInfo(Base, BaseKind);
        Value *P = Base->getPointerOperand();
        Value *DefP = B.CreateLoad(
            B.getPtrTy(), B.CreateGEP(I8, P, B.getInt64(BI.DefDelta)),
            "wasabi.memdef");
        Len = B.CreateLoad(I64, B.CreateGEP(I8, DefP, B.getInt64(BI.LenOffset)),
                           "wasabi.memlen");
        Ok = B.CreateAnd(Ok, B.CreateICmpNE(Len, B.getInt64(0)));
        Limits[Base] = Len;
      }
      return B.CreateSub(Len, B.getInt64(Size));
    };

    // Zext recurrences whose starts differ from an earlier one's (same
    // memory and step) by a constant get their start from that one's: in
    // the in-bounds copy, where these values become the addresses, the
    // accesses a[i], a[i+1], ... must stay visibly consecutive for the
    // vectoriser (its interleaved groups) rather than each be a separate
    // unknown. Exact when the shifted start is itself in [0, 2^32), which
    // the check tests: then it is the zero extension of the i32 start.
    // (A whole nest's inner accesses lead one another only, with the same
    // outer step too: syrk's C[i][j] and C[i][j+1], which unroll-and-jam
    // must see as one stream.)
    SmallVector<std::pair<const Access *, Value *>, 8> Leaders;
    auto zextStart = [&](const Access &A) {
      for (auto &[L0, S0] : Leaders) {
        if (L0->Inner != A.Inner || L0->Base != A.Base || L0->Step != A.Step ||
            L0->OuterStep != A.OuterStep)
          continue;
        auto *D = dyn_cast<SCEVConstant>(SE.getMinusSCEV(A.Start, L0->Start));
        if (!D)
          continue;
        Value *S = B.CreateAdd(S0, B.getInt64(D->getAPInt().getSExtValue()));
        Ok = B.CreateAnd(Ok, B.CreateICmpULE(S, B.getInt64(0xffffffff)));
        return S;
      }
      Value *S = B.CreateZExt(expand(A.Start), I64);
      Leaders.push_back({&A, S});
      return S;
    };
    for (Access &A : P.Accesses) {
      Value *Limit = limitFor(A.Base, A.Size);
      if (A.Inner) {
        // An inner access of a whole nest, at iteration j of `L` and k of
        // the inner loop: u(j, k) = Start + j*OuterStep + k*Step (for a
        // Zext access, the unwrapped 32-bit address before C). Affine in
        // both, so over the rectangle of iterations it is extreme at the
        // corners: if the four corners lie in [0, 2^32), every u does (it
        // never wraps, so the zero extension is exact), and if they are in
        // bounds, every address is. A trip of the inner loop that does not
        // run only shrinks the set.
        Value *U = A.Step ? B.CreateSExt(expand(A.Step), I64) : B.getInt64(0);
        Value *T = A.OuterStep ? B.CreateSExt(expand(A.OuterStep), I64)
                               : B.getInt64(0);
        Value *S0 = A.Zext ? zextStart(A) : expand(A.Start);
        // (An i64 start must itself be in bounds, which keeps the sums
        // below from overflowing.)
        if (!A.Zext)
          Ok = B.CreateAnd(Ok, B.CreateICmpULE(S0, Limit));
        Value *V10 = B.CreateAdd(S0, B.CreateMul(N, T));
        Value *SubSpan = B.CreateMul(P.SubN, U);
        Value *Corners[4] = {S0, B.CreateAdd(S0, SubSpan), V10,
                             B.CreateAdd(V10, SubSpan)};
        Value *Min = nullptr, *Max = nullptr;
        for (Value *V : Corners) {
          if (A.Zext) {
            Ok = B.CreateAnd(Ok, B.CreateICmpULE(V, B.getInt64(0xffffffff)));
            V = B.CreateAdd(V, B.getInt64(A.Const));
          }
          Ok = B.CreateAnd(Ok, B.CreateICmpULE(V, Limit));
          Min = Min ? B.CreateSelect(B.CreateICmpULT(V, Min), V, Min) : V;
          Max = Max ? B.CreateSelect(B.CreateICmpUGT(V, Max), V, Max) : V;
        }
        A.Lo = Min;
        A.Hi = B.CreateAdd(Max, B.getInt64(A.Size));
        if (A.Zext) {
          A.First64 = B.CreateAdd(S0, B.getInt64(A.Const));
          A.Step64 = U;
          A.OuterStep64 = T;
        }
        continue;
      }
      Value *First, *Last;
      if (A.Zext) {
        // The unwrapped 32-bit address after the last iteration must itself
        // be a 32-bit address: checking it only after adding C would let a
        // sequence that went below zero (and wrapped to 2^32 - x) pass.
        Value *S = zextStart(A);
        Value *St = B.CreateSExt(expand(A.Step), I64);
        Value *C = B.getInt64(A.Const);
        Value *LastX = B.CreateAdd(S, B.CreateMul(N, St));
        Ok = B.CreateAnd(Ok, B.CreateICmpULE(LastX, B.getInt64(0xffffffff)));
        First = B.CreateAdd(S, C);
        Last = B.CreateAdd(LastX, C);
        A.First64 = First;
        A.Step64 = St;
      } else {
        First = expand(A.Start);
        Last = First;
        // Not rewritten in the in-bounds copy: ScalarEvolution already sees
        // these addresses as 64-bit recurrences, related to one another.
        if (A.Step)
          Last = B.CreateAdd(First, B.CreateMul(N, expand(A.Step)));
      }
      // Unsigned: a negative end is huge and fails.
      Ok = B.CreateAnd(Ok, B.CreateICmpULE(First, Limit));
      if (Last != First)
        Ok = B.CreateAnd(Ok, B.CreateICmpULE(Last, Limit));
      Value *Up = B.CreateICmpULE(First, Last);
      A.Lo = B.CreateSelect(Up, First, Last);
      A.Hi = B.CreateAdd(B.CreateSelect(Up, Last, First), B.getInt64(A.Size));
    }
    if (!Preds.empty()) {
      // True when a predicate does not hold (as LLVM's LoopVersioning uses
      // it): then the exact copy runs.
      SCEVUnionPredicate Union(Preds);
      Value *Fails = Exp.expandCodeForPredicate(&Union, At);
      B.SetInsertPoint(At);
      Ok = B.CreateAnd(Ok, B.CreateNot(B.CreateFreeze(Fails)));
    }
    Exp.clear();
    Modified = true;
    return Ok;
  }

  // Clones `L`: its preheader branches to `L` when `Cond` holds, else to
  // the copy, which it returns (with `VMap` from originals to copies). Keeps
  // the dominator tree right for the blocks later clones look at; the
  // caller recalculates it at the end.
  Loop *versionOn(Loop *L, Value *Cond, const char *Suffix,
                  ValueToValueMapTy &VMap, SmallVectorImpl<BasicBlock *> &Blocks) {
    LLVMContext &Ctx = F.getContext();
    BasicBlock *Check = L->getLoopPreheader();
    BasicBlock *PH = SplitBlock(Check, Check->getTerminator(), &DT, &LI,
                                nullptr, "wasabi.ph");
    Loop *Copy =
        cloneLoopWithPreheader(PH, Check, L, VMap, Suffix, &LI, &DT, Blocks);
    remapInstructionsInBlocks(Blocks, VMap);
    Check->getTerminator()->eraseFromParent();
    BranchInst *Br =
        BranchInst::Create(PH, cast<BasicBlock>(VMap[PH]), Cond, Check);
    Br->setMetadata(LLVMContext::MD_prof,
                    MDBuilder(Ctx).createBranchWeights(1 << 20, 1));
    // The copy's exits join the original's: extend the LCSSA phis.
    SmallVector<BasicBlock *, 4> Exits;
    L->getUniqueExitBlocks(Exits);
    for (BasicBlock *E : Exits) {
      if (DomTreeNode *N = DT.getNode(E); N && N->getIDom())
        DT.changeImmediateDominator(
            E, DT.findNearestCommonDominator(N->getIDom()->getBlock(), Check));
      for (PHINode &Phi : E->phis()) {
        unsigned Incoming = Phi.getNumIncomingValues();
        for (unsigned I = 0; I < Incoming; ++I) {
          BasicBlock *In = Phi.getIncomingBlock(I);
          if (!L->contains(In))
            continue;
          Value *V = Phi.getIncomingValue(I);
          Value *Mapped = VMap.lookup(V);
          Phi.addIncoming(Mapped ? Mapped : V, cast<BasicBlock>(VMap[In]));
        }
      }
    }
    return Copy;
  }

  // Versions `P.L` on `P.Ok`: the original becomes the in-bounds copy.
  void clone(Plan &P) {
    Loop *L = P.L;
    LLVMContext &Ctx = F.getContext();
    ValueToValueMapTy VMap;
    SmallVector<BasicBlock *, 16> ExactBlocks;
    Loop *Exact = versionOn(L, P.Ok, ".exact", VMap, ExactBlocks);

    // The exact copy: unmarked (so it is never a candidate again), and not
    // worth unrolling or vectorising.
    for (BasicBlock *BB : ExactBlocks)
      for (Instruction &I : *BB)
        I.setMetadata(MemKind, nullptr);
    MDNode *NoUnroll =
        MDNode::get(Ctx, {MDString::get(Ctx, "llvm.loop.unroll.disable")});
    MDNode *NoVector = MDNode::get(
        Ctx, {MDString::get(Ctx, "llvm.loop.vectorize.enable"),
              ConstantAsMetadata::get(ConstantInt::getFalse(Ctx))});
    // (A whole nest's exact inner loop too: every access in it is
    // volatile, as in the outer loop.)
    for (Loop *X : Exact->getLoopsInPreorder()) {
      if (X != Exact && !P.Sub)
        break;
      MDNode *Id = MDNode::getDistinct(Ctx, {nullptr, NoUnroll, NoVector});
      Id->replaceOperandWith(0, Id);
      X->setLoopID(Id);
    }

    // The in-bounds copy: plain accesses.
    for (const Access &A : P.Accesses) {
      if (auto *Ld = dyn_cast<LoadInst>(A.Inst))
        Ld->setVolatile(false);
      else
        cast<StoreInst>(A.Inst)->setVolatile(false);
      A.Inst->setMetadata(MemKind, nullptr);
    }
    widenAddresses(P);
    if (P.Polls.empty()) {
      sinkStores(P);
      separateStreams(P);
      if (P.Sub) {
        enterUnguarded(P);
        markForJam(L);
      }
      return;
    }

    // With epoch polls, it is versioned once more, on the trip count: short
    // trips run a copy without polls (vectorisable); long ones keep each
    // poll as a load that is also a compiler barrier for memory, so no
    // plain store moves across it and an interrupt sees memory as the
    // program order has it at that loop header.
    IRBuilder<> B(L->getLoopPreheader()->getTerminator());
    Value *Short = B.CreateICmpULT(P.N, B.getInt64(kMaxUnpolledIterations));
    ValueToValueMapTy PolledMap;
    SmallVector<BasicBlock *, 16> PolledBlocks;
    versionOn(L, Short, ".polled", PolledMap, PolledBlocks);
    FunctionType *Ty = FunctionType::get(B.getInt8Ty(), {B.getPtrTy()}, false);
    InlineAsm *Barrier = InlineAsm::get(Ty, "movb ($1), $0", "=r,r,~{memory}",
                                        /*hasSideEffects=*/true);
    for (LoadInst *Poll : P.Polls) {
      auto *Copy = cast<LoadInst>(PolledMap[Poll]);
      CallInst::Create(Ty, Barrier, {Copy->getPointerOperand()}, "", Copy);
      Copy->eraseFromParent();
      Poll->eraseFromParent();
    }
    sinkStores(P);
    separateStreams(P);
  }

  // In the in-bounds copy of a whole nest, replaces the inner loop's guard
  // by a branch into it: the check required the guard's condition. (One
  // edge fewer: the dominator tree is told; the way the guard skipped to
  // loses its predecessor.)
  void enterUnguarded(Plan &P) {
    BranchInst *Br = P.Guard;
    if (!Br)
      return;
    BasicBlock *G = Br->getParent();
    BasicBlock *SPH = P.Sub->getLoopPreheader();
    BasicBlock *Other =
        Br->getSuccessor(0) == SPH ? Br->getSuccessor(1) : Br->getSuccessor(0);
    Other->removePredecessor(G);
    BranchInst::Create(SPH, Br);
    Br->eraseFromParent();
    DT.deleteEdge(G, Other);
  }

  // Whether the whole nest `P` is a shape unroll-and-jam pays for:
  //   - its inner loop only loads, and one of its loads is invariant in
  //     the outer loop, so the jammed copies share it (correlation's
  //     data[k][i] against data[k][j], j = i, i+1, ...), and each copy
  //     brings its own accumulator where the inner loop is a reduction;
  //   - or every store of its inner loop walks the same bytes on every
  //     outer iteration (syrk's `C[i][j] += a[k] * A[j][k]`, k outer):
  //     an accumulator in memory, which the jammed copies then load and
  //     store once for four updates, while their other loads share cache
  //     lines (A[j][k..k+3]).
  // (`UnrollAndJam` decides legality on the loop it finds.)
  bool worthJamming(const Plan &P) {
    bool Shared = false, Stores = false;
    for (const Access &A : P.Accesses) {
      if (!A.Inner)
        continue;
      if (isa<StoreInst>(A.Inst)) {
        if (A.OuterStep || !A.Step)
          return false;
        Stores = true;
      }
      Shared |= !A.OuterStep && isa<LoadInst>(A.Inst);
    }
    return Stores || Shared;
  }

  // Marks `L` for `UnrollAndJam` (loop metadata, kept by the passes in
  // between), which decides again, on the loop it then finds.
  void markForJam(Loop *L) {
    LLVMContext &Ctx = F.getContext();
    SmallVector<Metadata *, 4> Ops{nullptr};
    if (MDNode *Id = L->getLoopID())
      for (unsigned I = 1; I < Id->getNumOperands(); ++I)
        Ops.push_back(Id->getOperand(I));
    Ops.push_back(MDNode::get(Ctx, {MDString::get(Ctx, kJamKind)}));
    MDNode *Id = MDNode::getDistinct(Ctx, Ops);
    Id->replaceOperandWith(0, Id);
    L->setLoopID(Id);
  }

  // A stream: accesses of one memory with one step whose starts differ by
  // constants (a[i], a[i+1], ...: LLVM relates them itself).
  struct Stream {
    SmallVector<const Access *, 4> Members;
    bool Writes = false;
    Value *Lo = nullptr, *Hi = nullptr;
    MDNode *Scope = nullptr;
  };

  // When the in-bounds copy reads and writes several streams whose
  // distance is unknown (rows i and k of one matrix), versions it once more
  // on a run-time test that every pair with a store covers disjoint bytes:
  // the copy taken then marks each stream with its own alias scope, noalias
  // with the streams it was tested against. Without it LLVM's loop access
  // analysis, finding one unknown distance, checks every pair of pointers
  // at run time, including a[i] against a[i+1] of a loop a wasm compiler
  // had unrolled, and that check always fails: k_lu's inner loop never ran
  // vectorised. The other copy keeps plain accesses with no such promise.
  void separateStreams(Plan &P) {
    SmallVector<Stream, 4> Streams;
    for (const Access &A : P.Accesses) {
      if (!A.Lo)
        return;
      Stream *In = nullptr;
      for (Stream &S : Streams) {
        const Access *M = S.Members.front();
        if (M->Base != A.Base || M->Step != A.Step || M->Zext != A.Zext ||
            M->Inner != A.Inner || M->OuterStep != A.OuterStep)
          continue;
        if (isa<SCEVConstant>(SE.getMinusSCEV(A.Start, M->Start))) {
          In = &S;
          break;
        }
      }
      if (!In) {
        Streams.emplace_back();
        In = &Streams.back();
      }
      In->Members.push_back(&A);
      In->Writes |= isa<StoreInst>(A.Inst);
    }
    if (Streams.size() < 2 || Streams.size() > 8)
      return;
    bool AnyWrite = false;
    for (Stream &S : Streams)
      AnyWrite |= S.Writes;
    if (!AnyWrite)
      return;
    Loop *L = P.L;
    IRBuilder<> B(L->getLoopPreheader()->getTerminator());
    for (Stream &S : Streams) {
      for (const Access *A : S.Members) {
        S.Lo = S.Lo ? B.CreateSelect(B.CreateICmpULT(A->Lo, S.Lo), A->Lo, S.Lo) : A->Lo;
        S.Hi = S.Hi ? B.CreateSelect(B.CreateICmpUGT(A->Hi, S.Hi), A->Hi, S.Hi) : A->Hi;
      }
    }
    // Which pairs are tested (and then noalias): any with a store, except,
    // in a whole nest, two streams of the outer loop that both store: there
    // they are kept in order rather than tested (correlation's corr[i][j]
    // and corr[j][i] meet on the diagonal, and the test would always
    // fail). A stream of the inner loop that stores is tested against the
    // outer loop's (syrk's C[i][j] for j < J against the remainder
    // iteration's C[i][J]), or unroll-and-jam could not move one past the
    // other.
    auto tested = [&](const Stream &X, const Stream &Y) {
      bool Outer = !X.Members.front()->Inner && !Y.Members.front()->Inner;
      return (X.Writes || Y.Writes) && !(P.Sub && X.Writes && Y.Writes && Outer);
    };
    Value *Apart = B.getTrue();
    for (size_t I = 0; I < Streams.size(); ++I)
      for (size_t J = I + 1; J < Streams.size(); ++J) {
        Stream &X = Streams[I], &Y = Streams[J];
        if (!tested(X, Y))
          continue;
        Apart = B.CreateAnd(Apart, B.CreateOr(B.CreateICmpULE(X.Hi, Y.Lo),
                                              B.CreateICmpULE(Y.Hi, X.Lo)));
      }
    ValueToValueMapTy Map;
    SmallVector<BasicBlock *, 16> Blocks;
    versionOn(L, Apart, ".overlap", Map, Blocks);
    MDBuilder MDB(F.getContext());
    MDNode *Domain = MDB.createAnonymousAliasScopeDomain("wasabi.streams");
    for (Stream &S : Streams)
      S.Scope = MDB.createAnonymousAliasScope(Domain);
    for (size_t I = 0; I < Streams.size(); ++I) {
      SmallVector<Metadata *, 8> Others;
      for (size_t J = 0; J < Streams.size(); ++J)
        if (J != I && tested(Streams[I], Streams[J]))
          Others.push_back(Streams[J].Scope);
      MDNode *Own = MDNode::get(F.getContext(), {Streams[I].Scope});
      MDNode *NoAlias = MDNode::get(F.getContext(), Others);
      for (const Access *A : Streams[I].Members) {
        A->Inst->setMetadata(LLVMContext::MD_alias_scope, Own);
        if (!Others.empty())
          A->Inst->setMetadata(LLVMContext::MD_noalias, NoAlias);
      }
    }
  }

  // Gives every recurrent access of the in-bounds copy `P.L` the address
  // `base + (First + k * Step)` in 64 bits, k counting iterations from 0.
  // Exact there: the check proved the unwrapped 32-bit sequence stays in
  // [0, 2^32) (and in bounds), so it equals the wasm address. The
  // translator's form, `base + zext(i32 sum)`, hides that from LLVM: the
  // zero extension of a sum that may wrap is opaque to ScalarEvolution,
  // so the accesses are not consecutive for the vectoriser, every one
  // needs its own 32-bit add and extension, and the later pipeline widens
  // the i32 induction variable into masked 64-bit arithmetic (`and` with
  // 0xfffffff0) that no later pass can analyse. The old address
  // arithmetic is left for dead-code elimination.
  void widenAddresses(Plan &P) {
    Loop *L = P.L;
    BasicBlock *Header = L->getHeader();
    BasicBlock *PH = L->getLoopPreheader();
    BasicBlock *Latch = L->getLoopLatch();
    if (!PH || !Latch)
      return;
    bool Any = P.LatchCount != nullptr || !P.Ivs.empty() || P.Sub;
    for (const Access &A : P.Accesses)
      Any |= A.First64 != nullptr;
    if (!Any)
      return;
    Type *I64 = Type::getInt64Ty(F.getContext());
    PHINode *K = PHINode::Create(I64, 2, "wasabi.k");
    K->insertBefore(Header->getFirstNonPHIIt());
    // At most 2^32 + 1 iterations: no wrap in 64 bits.
    auto *Next = BinaryOperator::CreateAdd(K, ConstantInt::get(I64, 1),
                                           "wasabi.k.next",
                                           Latch->getTerminator());
    Next->setHasNoUnsignedWrap(true);
    Next->setHasNoSignedWrap(true);
    for (BasicBlock *Pred : predecessors(Header))
      K->addIncoming(Pred == PH ? cast<Value>(ConstantInt::get(I64, 0))
                                : cast<Value>(Next),
                     Pred);
    // In a loop with inner loops, the wasm's own induction variables (a
    // loop counter, pointers a compiler strength-reduced) become
    // `Start + k * Step` at the top of each iteration, exact in their own
    // width whatever wraps: the inner loops take most registers, and the
    // register allocator otherwise keeps each of them in a stack slot that
    // every iteration loads, adds to and stores back (a chain through
    // memory that bounded simd_search's scan loop), where `k` alone can be
    // carried in a register and the rest recomputed from it.
    for (auto &[Phi, Step] : P.Ivs) {
      IRBuilder<> B(&*Header->getFirstInsertionPt());
      Type *Ty = Phi->getType();
      Value *Kt = B.CreateTrunc(K, Ty); // a no-op for i64
      Value *Iv = B.CreateAdd(Phi->getIncomingValueForBlock(PH),
                              B.CreateMul(Kt, ConstantInt::get(Ty, Step)),
                              Phi->getName() + ".k");
      Phi->replaceAllUsesWith(Iv);
    }
    // The exit test, on the same counter: the wasm test is on a 32-bit
    // value (often counting up to zero through a wrap), which InstCombine
    // later turns into a masked 64-bit compare whose trip count is lost.
    if (P.LatchCount) {
      auto *Br = cast<BranchInst>(Latch->getTerminator());
      bool ExitOnTrue = !L->contains(Br->getSuccessor(0));
      IRBuilder<> B(Br);
      Br->setCondition(ExitOnTrue ? B.CreateICmpEQ(K, P.LatchCount, "wasabi.done")
                                  : B.CreateICmpNE(K, P.LatchCount, "wasabi.more"));
    }
    // A whole nest: the inner loop gets its own counter, for its exit test
    // (the wasm's, on a 32-bit value, is one the optimising levels'
    // InstCombine turns into a masked compare with no computable trip
    // count, and unroll-and-jam needs that count) and for the inner
    // accesses' 64-bit addresses, exact for the same reason as above: the
    // check proved the unwrapped sequence in [0, 2^32) at every
    // iteration of both loops.
    PHINode *KS = nullptr;
    if (P.Sub) {
      BasicBlock *SH = P.Sub->getHeader();
      BasicBlock *SPH = P.Sub->getLoopPreheader();
      BasicBlock *SL = P.Sub->getLoopLatch();
      if (SPH && SL) {
        KS = PHINode::Create(I64, 2, "wasabi.ks");
        KS->insertBefore(SH->getFirstNonPHIIt());
        auto *KSNext = BinaryOperator::CreateAdd(
            KS, ConstantInt::get(I64, 1), "wasabi.ks.next", SL->getTerminator());
        KSNext->setHasNoUnsignedWrap(true);
        KSNext->setHasNoSignedWrap(true);
        for (BasicBlock *Pred : predecessors(SH))
          KS->addIncoming(Pred == SPH ? cast<Value>(ConstantInt::get(I64, 0))
                                      : cast<Value>(KSNext),
                          Pred);
        auto *Br = dyn_cast<BranchInst>(SL->getTerminator());
        // The exact count is the latch's when the latch is the only exit.
        if (Br && Br->isConditional() && P.Sub->getExitingBlock() == SL) {
          bool ExitOnTrue = !P.Sub->contains(Br->getSuccessor(0));
          IRBuilder<> B(Br);
          Br->setCondition(ExitOnTrue
                               ? B.CreateICmpEQ(KS, P.SubN, "wasabi.ks.done")
                               : B.CreateICmpNE(KS, P.SubN, "wasabi.ks.more"));
        }
      }
    }
    for (const Access &A : P.Accesses) {
      if (!A.First64 || (A.Inner && !KS))
        continue;
      IRBuilder<> B(A.Inst);
      // The address is within the memory, so `inbounds` holds.
      Value *Ptr;
      if (A.Inner) {
        // base + First64 + (j*T + k*U): the first access's address, then
        // the iterations' part, which accesses of one stream share, so
        // that alias analysis sees their constant distance (it looks
        // through a chain of GEPs and `add x, c`, not through a sum of
        // variables). The first address is in bounds (the check), and so
        // is the sum. |j * T|, |k * U| < 2^62 and j*T + k*U lies within
        // (-2^32, 2^32).
        Value *Iter = B.CreateAdd(B.CreateMul(K, A.OuterStep64, "", false, true),
                                  B.CreateMul(KS, A.Step64, "", false, true), "", false,
                                  true);
        Value *First = B.CreateInBoundsGEP(B.getInt8Ty(), A.Base, A.First64);
        Ptr = B.CreateInBoundsGEP(B.getInt8Ty(), First, Iter, "wasabi.addr");
      } else {
        // |k * Step| < 2^33 * 2^31 and the sum lies in [0, 2^32): no signed
        // wrap.
        Value *Off = B.CreateAdd(A.First64, B.CreateMul(K, A.Step64, "", false, true),
                                 "wasabi.off", false, true);
        Ptr = B.CreateInBoundsGEP(B.getInt8Ty(), A.Base, Off, "wasabi.addr");
      }
      if (auto *Ld = dyn_cast<LoadInst>(A.Inst))
        Ld->setOperand(Ld->getPointerOperandIndex(), Ptr);
      else
        A.Inst->setOperand(cast<StoreInst>(A.Inst)->getPointerOperandIndex(), Ptr);
    }
  }

  // Whether accesses `X` and `Y` of the in-bounds copy can never overlap in
  // the same iteration: both recurrences of one memory with the same step,
  // whose first addresses differ by a constant at least the size of the
  // lower one. In that copy each Zext address is zext(S) + k*Step + C exactly,
  // so the distance is zext(SX) - zext(SY) + CX - CY, which is d or
  // d - 2^32 for d = (SX - SY) mod 2^32: both must keep them apart.
  bool disjoint(const Access &X, const Access &Y) {
    if (X.Base != Y.Base || X.Zext != Y.Zext || !X.Step || X.Step != Y.Step ||
        X.Inner != Y.Inner || X.OuterStep != Y.OuterStep)
      return false;
    auto *D = dyn_cast<SCEVConstant>(SE.getMinusSCEV(X.Start, Y.Start));
    if (!D)
      return false;
    auto Apart = [&](int64_t Dd) {
      return Dd >= int64_t(Y.Size) || -Dd >= int64_t(X.Size);
    };
    // i64 recurrences (ScalarEvolution proved the extension exact): the
    // distance is the difference of the starts, if it is small.
    if (!X.Zext)
      return D->getAPInt().getSignificantBits() <= 40 &&
             Apart(D->getAPInt().getSExtValue());
    int64_t Dist = int64_t(D->getAPInt().getZExtValue()) + int64_t(X.Const) -
                   int64_t(Y.Const);
    return Apart(Dist) && Apart(Dist - (int64_t(1) << 32));
  }

  // In the in-bounds copy, moves each store of linear memory down its block
  // past later accesses it provably does not overlap (and past arithmetic),
  // as far as the block's end. What it buys: wasm from an optimising
  // compiler often carries a loaded value to the next iteration in a phi
  // (load forwarding of a[i+1] to the next a[i-1]), and LLVM's vectoriser
  // takes such a phi as a fixed-order recurrence only if no store lies
  // between the load that feeds it and the users it has to sink after that
  // load. Nothing in this copy traps, memory is not shared with other
  // threads, and the store moves only past accesses of other bytes and past
  // instructions that neither touch memory nor have side effects, so the
  // program's result is unchanged.
  void sinkStores(Plan &P) {
    DenseMap<Instruction *, const Access *> Of;
    for (const Access &A : P.Accesses)
      Of[A.Inst] = &A;
    for (BasicBlock *BB : P.L->blocks()) {
      SmallVector<StoreInst *, 8> Stores;
      for (Instruction &I : *BB)
        if (auto *St = dyn_cast<StoreInst>(&I); St && Of.count(St))
          Stores.push_back(St);
      // Last first, so an earlier store can then move past a later one that
      // already went down.
      for (auto It = Stores.rbegin(); It != Stores.rend(); ++It) {
        StoreInst *St = *It;
        const Access &SA = *Of[St];
        Instruction *After = nullptr;
        for (Instruction *I = St->getNextNode(); I && !I->isTerminator();
             I = I->getNextNode()) {
          if (auto Found = Of.find(I); Found != Of.end()) {
            if (!disjoint(SA, *Found->second) && !disjoint(*Found->second, SA))
              break;
          } else if (I->mayReadOrWriteMemory() || I->mayHaveSideEffects() ||
                     isa<PHINode>(I)) {
            break;
          }
          After = I;
        }
        if (After)
          St->moveAfter(After);
      }
    }
  }
};

// `wasabi-unroll-and-jam`: unroll-and-jam of the nests the versioning
// marked (`kJamKind`), by LLVM's own `UnrollAndJamLoop`.
//
// Why not LLVM's pass: it wants the outer loop's own trip count invariant
// in the loop around it, which no triangular nest (j from i) has, and its
// dependence analysis cannot see through wasm's 32-bit addresses. Here the
// versioning's check has already made every access of the nest plain and
// given the streams alias scopes, so what is left to decide is the shape,
// and that jamming reorders no two accesses that can meet.
//
// What must stay true: jamming runs the inner loop of iterations j+1 ..
// j+3 before the code after the inner loop of iteration j (the "aft"
// blocks), the code before it (the "fore" blocks) of all of them first,
// and the four inner loops interleaved, iteration by iteration, each
// inner iteration's copies in the order of their outer iterations. So:
//   - the fore blocks only load, and no fore load may alias a store of the
//     inner loop or the aft blocks;
//   - no inner access may alias an aft access when either stores;
//   - an inner store may alias only inner accesses that can meet it in the
//     same inner iteration and no other (`sameIteration`: it walks the
//     same bytes on every outer iteration, the other access is it shifted
//     by less than its step minus their sizes), whose order jamming keeps;
//   - the aft blocks keep their order among themselves.
// "Alias" is alias analysis with the scopes the versioning set, asked
// without sizes or offsets so that the answer holds across iterations.
// The inner loop's trip count must be the same on every iteration of the
// outer loop. After a jam with inner stores, the copies' equal inner
// counters are merged, EarlyCSE forwards the accumulator's loads and
// `dropOverwrittenStores` deletes its overwritten stores in the jammed
// loop only: forwarding and deleting only what they prove, in code where
// nothing traps, they change no result.
struct UnrollAndJam : PassInfoMixin<UnrollAndJam> {
  // Counts the nests jammed, for the caller's statistics.
  unsigned *Jammed;
  explicit UnrollAndJam(unsigned *Jammed) : Jammed(Jammed) {}

  PreservedAnalyses run(Function &F, FunctionAnalysisManager &AM) {
    if (F.isDeclaration())
      return PreservedAnalyses::all();
    auto &LI = AM.getResult<LoopAnalysis>(F);
    SmallVector<Loop *, 4> Marked;
    for (Loop *L : LI.getLoopsInPreorder())
      if (findOptionMDForLoop(L, kJamKind))
        Marked.push_back(L);
    if (Marked.empty())
      return PreservedAnalyses::all();
    auto &DT = AM.getResult<DominatorTreeAnalysis>(F);
    auto &SE = AM.getResult<ScalarEvolutionAnalysis>(F);
    auto &AC = AM.getResult<AssumptionAnalysis>(F);
    auto &TTI = AM.getResult<TargetIRAnalysis>(F);
    auto &AA = AM.getResult<AAManager>(F);
    OptimizationRemarkEmitter ORE(&F);
    bool Changed = false;
    SmallVector<BasicBlock *, 8> Accumulating;
    for (Loop *L : Marked) {
      // An inner loop that had a guard exits through its own exit block
      // to the block the guard skipped to: one aft block, once merged.
      if (L->getSubLoops().size() == 1)
        if (BasicBlock *Exit = L->getSubLoops().front()->getExitBlock())
          if (BasicBlock *Next = Exit->getSingleSuccessor();
              Next && L->contains(Next) && Next->getSinglePredecessor() == Exit) {
            DomTreeUpdater DTU(DT, DomTreeUpdater::UpdateStrategy::Eager);
            Changed |= MergeBlockIntoPredecessor(Next, &DTU, &LI);
          }
      Changed |= simplifyLoop(L, &DT, &LI, &SE, &AC, nullptr, false);
      Changed |= formLCSSARecursively(*L, DT, &LI, &SE);
      if (!safe(L, DT, SE, AA))
        continue;
      BasicBlock *Latch = L->getLoopLatch();
      unsigned Trip = SE.getSmallConstantTripCount(L, Latch);
      unsigned Multiple = SE.getSmallConstantTripMultiple(L, Latch);
      if (Trip && Trip < 2 * kJamCount)
        continue;
      bool Stores = false;
      BasicBlock *SubHeader = L->getSubLoops().front()->getHeader();
      for (BasicBlock *BB : L->getSubLoops().front()->blocks())
        for (Instruction &I : *BB)
          Stores |= isa<StoreInst>(I);
      if (UnrollAndJamLoop(L, kJamCount, Trip, Multiple, false, &LI, &SE, &DT,
                           &AC, &TTI, &ORE) != LoopUnrollResult::Unmodified) {
        Changed = true;
        mergeEqualPhis(SubHeader, SE);
        if (Stores)
          append_range(Accumulating, LI.getLoopFor(SubHeader)->blocks());
        ++*Jammed;
      }
    }
    if (!Accumulating.empty()) {
      // The jammed copies of an accumulator in memory load what the copy
      // before them stored, and store what the next one overwrites: the
      // loads are forwarded (EarlyCSE) and the stores deleted here, so
      // that the copies keep the value in a register (the passes after
      // this one in the JIT pipeline do neither). EarlyCSE changes no
      // block, so the jammed loops' blocks are still theirs.
      AM.invalidate(F, PreservedAnalyses::none());
      FunctionPassManager Cleanup;
      Cleanup.addPass(EarlyCSEPass(/*UseMemorySSA=*/true));
      Cleanup.run(F, AM);
      dropOverwrittenStores(Accumulating, AM.getResult<AAManager>(F));
    }
    return Changed ? PreservedAnalyses::none() : PreservedAnalyses::all();
  }

  // Deletes each store in `Blocks` that a later store of its block to the
  // same pointer overwrites, with nothing in between that may read its
  // bytes, throw, or have another effect. Only the jammed inner loops are
  // given (not LLVM's DSE over the whole function): they are in-bounds
  // copies, where no access can trap, so no trap can show the overwritten
  // value, whereas elsewhere a plain store may be followed by a volatile
  // access that traps, which DSE does not count as a reader.
  static void dropOverwrittenStores(ArrayRef<BasicBlock *> Blocks,
                                    AAResults &AA) {
    SmallVector<StoreInst *, 8> Dead;
    for (BasicBlock *BB : Blocks)
      for (Instruction &I : *BB) {
        auto *St = dyn_cast<StoreInst>(&I);
        if (!St || !St->isSimple())
          continue;
        MemoryLocation Loc = MemoryLocation::get(St);
        for (Instruction *J = St->getNextNode(); J; J = J->getNextNode()) {
          auto *Later = dyn_cast<StoreInst>(J);
          if (Later && Later->isSimple() &&
              Later->getPointerOperand() == St->getPointerOperand() &&
              Later->getValueOperand()->getType() ==
                  St->getValueOperand()->getType()) {
            Dead.push_back(St);
            break;
          }
          if (J->mayThrow() || (J->mayHaveSideEffects() && !Later) ||
              isRefSet(AA.getModRefInfo(J, Loc)))
            break;
        }
      }
    for (StoreInst *St : Dead)
      St->eraseFromParent();
  }

  // Each jammed copy keeps its own inner counter, all equal (the inner
  // loop's trip is the same in every outer iteration): they become one
  // (same recurrence to ScalarEvolution, so the same value in every
  // iteration), so that the copies' addresses of an accumulator are
  // visibly the same for the cleanup after the jam.
  static void mergeEqualPhis(BasicBlock *Header, ScalarEvolution &SE) {
    SmallVector<PHINode *, 8> Phis;
    for (PHINode &Phi : Header->phis())
      if (SE.isSCEVable(Phi.getType()))
        Phis.push_back(&Phi);
    SmallVector<const SCEV *, 8> Of;
    for (PHINode *Phi : Phis)
      Of.push_back(SE.getSCEV(Phi));
    for (size_t I = 0; I < Phis.size(); ++I) {
      if (!isa<SCEVAddRecExpr>(Of[I]))
        continue;
      for (size_t J = 0; J < I; ++J)
        if (Phis[J] && Of[J] == Of[I] && Phis[J]->getType() == Phis[I]->getType()) {
          Phis[I]->replaceAllUsesWith(Phis[J]);
          SE.forgetValue(Phis[I]);
          Phis[I]->eraseFromParent();
          Phis[I] = nullptr;
          break;
        }
    }
  }

  // The shape `UnrollAndJamLoop` assumes, and the conditions in the
  // comment above.
  static bool safe(Loop *L, DominatorTree &DT, ScalarEvolution &SE,
                   AAResults &AA) {
    auto plain = [](Loop *X) {
      return X->isLoopSimplifyForm() && X->isRotatedForm() &&
             X->getExitBlock() && X->getExitingBlock() &&
             !X->getHeader()->hasAddressTaken();
    };
    if (L->getSubLoops().size() != 1 || !plain(L))
      return false;
    Loop *S = L->getSubLoops().front();
    if (!S->isInnermost() || !plain(S))
      return false;
    unsigned InnerSize = 0;
    for (BasicBlock *BB : S->blocks())
      InnerSize += BB->size();
    if (InnerSize > kMaxJamInnerInstructions)
      return false;
    const SCEV *SubBTC = SE.getExitCount(S, S->getLoopLatch());
    if (isa<SCEVCouldNotCompute>(SubBTC) || !SE.isLoopInvariant(SubBTC, L))
      return false;
    // Fore: the outer loop's blocks the inner loop's latch does not
    // dominate, each (but the inner preheader) branching only to fore
    // blocks; aft: the rest, each branching only to aft blocks, the
    // header or the exit (clang's remainder iteration after an unrolled
    // inner loop is a block of its own there).
    BasicBlock *SubLatch = S->getLoopLatch();
    SmallPtrSet<BasicBlock *, 8> Fore, Aft;
    for (BasicBlock *BB : L->blocks()) {
      if (S->contains(BB))
        continue;
      if (DT.dominates(SubLatch, BB))
        Aft.insert(BB);
      else
        Fore.insert(BB);
    }
    if (Aft.empty())
      return false;
    for (BasicBlock *BB : Fore) {
      if (BB == S->getLoopPreheader())
        continue;
      for (BasicBlock *Succ : successors(BB))
        if (!Fore.count(Succ))
          return false;
    }
    for (BasicBlock *BB : Aft)
      for (BasicBlock *Succ : successors(BB))
        if (!Aft.count(Succ) && Succ != L->getHeader() && Succ != L->getExitBlock())
          return false;
    // The header's phis take from the latch values computable before the
    // inner loop (the copies' fore blocks run first): nothing from the
    // inner loop, no phi or memory access of the aft blocks.
    SmallVector<Instruction *, 8> Work;
    SmallPtrSet<Instruction *, 16> Seen;
    for (PHINode &Phi : L->getHeader()->phis())
      if (auto *I = dyn_cast<Instruction>(
              Phi.getIncomingValueForBlock(L->getLoopLatch())))
        Work.push_back(I);
    while (!Work.empty()) {
      Instruction *I = Work.pop_back_val();
      if (!Seen.insert(I).second || !L->contains(I))
        continue;
      if (S->contains(I))
        return false;
      if (Aft.count(I->getParent())) {
        if (isa<PHINode>(I) || I->mayHaveSideEffects() ||
            I->mayReadOrWriteMemory())
          return false;
        for (Value *Op : I->operands())
          if (auto *OpI = dyn_cast<Instruction>(Op))
            Work.push_back(OpI);
      }
    }
    // Memory: only simple loads and stores, none stored in the fore
    // blocks.
    SmallVector<Instruction *, 8> ForeLoads, Inner, After;
    for (BasicBlock *BB : L->blocks())
      for (Instruction &I : *BB) {
        if (!I.mayReadOrWriteMemory() && !I.mayHaveSideEffects())
          continue;
        auto *Ld = dyn_cast<LoadInst>(&I);
        auto *St = dyn_cast<StoreInst>(&I);
        if (!(Ld && Ld->isSimple()) && !(St && St->isSimple()))
          return false;
        if (Fore.count(BB)) {
          if (St)
            return false;
          ForeLoads.push_back(&I);
        } else {
          (S->contains(BB) ? Inner : After).push_back(&I);
        }
      }
    auto noAlias = [&](Instruction *X, Instruction *Y) {
      return AA.isNoAlias(
          MemoryLocation::getBeforeOrAfter(getLoadStorePointerOperand(X),
                                           X->getAAMetadata()),
          MemoryLocation::getBeforeOrAfter(getLoadStorePointerOperand(Y),
                                           Y->getAAMetadata()));
    };
    // Bytes an access touches.
    const DataLayout &DL = L->getHeader()->getDataLayout();
    auto size = [&](Instruction *I) {
      return int64_t(DL.getTypeStoreSize(getLoadStoreType(I)).getFixedValue());
    };
    // Whether accesses `X` and `St` (a store) of the inner loop can only
    // touch the same bytes in the same iteration of it: `St` walks the
    // same addresses on every outer iteration (its start is invariant in
    // `L`) with a constant step U, `X` is `St` shifted by a constant d,
    // and |U| - |d| is at least either size, so that an iteration apart
    // they are at least |U| - |d| bytes apart. Then jamming changes no
    // order between them: for one inner iteration the copies still run
    // in the order of their outer iterations.
    auto sameIteration = [&](Instruction *X, Instruction *St) {
      auto *AR = dyn_cast<SCEVAddRecExpr>(SE.getSCEV(getLoadStorePointerOperand(St)));
      if (!AR || AR->getLoop() != S || !AR->isAffine() ||
          !SE.isLoopInvariant(AR->getStart(), L))
        return false;
      auto *U = dyn_cast<SCEVConstant>(AR->getStepRecurrence(SE));
      auto *D = dyn_cast<SCEVConstant>(SE.getMinusSCEV(
          SE.getSCEV(getLoadStorePointerOperand(X)), AR));
      if (!U || !D || U->getAPInt().getSignificantBits() > 32 ||
          D->getAPInt().getSignificantBits() > 32)
        return false;
      int64_t Gap = std::abs(U->getAPInt().getSExtValue()) -
                    std::abs(D->getAPInt().getSExtValue());
      return Gap >= size(X) && Gap >= size(St);
    };
    // Jamming moves the fore blocks of later outer iterations before the
    // inner loops and aft blocks of earlier ones, and the inner loops of
    // later iterations before the aft blocks of earlier ones; the inner
    // loops of several iterations interleave.
    for (Instruction *X : ForeLoads)
      for (ArrayRef<Instruction *> Group : {ArrayRef(Inner), ArrayRef(After)})
        for (Instruction *St : Group)
          if (isa<StoreInst>(St) && !noAlias(X, St))
            return false;
    for (Instruction *X : Inner) {
      for (Instruction *St : Inner)
        if (St != X && isa<StoreInst>(St) && !noAlias(X, St) &&
            !sameIteration(X, St))
          return false;
      for (Instruction *Y : After)
        if ((isa<StoreInst>(X) || isa<StoreInst>(Y)) && !noAlias(X, Y))
          return false;
    }
    return true;
  }
};

struct BoundsVersioning : PassInfoMixin<BoundsVersioning> {
  // Counts the loops versioned, for the caller's statistics.
  unsigned *Versioned;
  explicit BoundsVersioning(unsigned *Versioned) : Versioned(Versioned) {}

  PreservedAnalyses run(Function &F, FunctionAnalysisManager &AM) {
    if (F.isDeclaration())
      return PreservedAnalyses::all();
    Versioner V(F, AM.getResult<DominatorTreeAnalysis>(F),
                AM.getResult<LoopAnalysis>(F),
                AM.getResult<ScalarEvolutionAnalysis>(F),
                AM.getResult<AssumptionAnalysis>(F));
    *Versioned += V.versionAll();
    return V.Modified ? PreservedAnalyses::none() : PreservedAnalyses::all();
  }
};

} // namespace

// Runs the new-pass-manager pipeline `passes` over `m`, with the passes
// above available by name (`wasabi-bounds-versioning`,
// `wasabi-unroll-and-jam`) and, when `version_at_vectorizer_start` is set,
// both added to the standard `default<On>` pipelines just before the loop
// vectoriser. Returns null on success, or an error message the caller
// frees with `wasabi_dispose_message`. Adds the number of loops versioned
// to `*versioned` and of nests jammed to `*jammed`.
extern "C" char *wasabi_run_passes(LLVMModuleRef m, const char *passes,
                                   LLVMTargetMachineRef tm,
                                   int version_at_vectorizer_start,
                                   unsigned *versioned, unsigned *jammed) {
  Module *Mod = unwrap(m);
  // LLVM's C API wraps a TargetMachine by plain pointer cast.
  TargetMachine *Machine = reinterpret_cast<TargetMachine *>(tm);
  PipelineTuningOptions PTO;
  PassInstrumentationCallbacks PIC;
  PassBuilder PB(Machine, PTO, std::nullopt, &PIC);
  PB.registerPipelineParsingCallback(
      [versioned, jammed](StringRef Name, FunctionPassManager &FPM,
                  ArrayRef<PassBuilder::PipelineElement>) {
        if (Name == "wasabi-bounds-versioning") {
          FPM.addPass(BoundsVersioning(versioned));
          return true;
        }
        if (Name == "wasabi-unroll-and-jam") {
          FPM.addPass(UnrollAndJam(jammed));
          return true;
        }
        return false;
      });
  if (version_at_vectorizer_start)
    PB.registerVectorizerStartEPCallback(
        [versioned, jammed](FunctionPassManager &FPM, OptimizationLevel) {
          FPM.addPass(BoundsVersioning(versioned));
          FPM.addPass(UnrollAndJam(jammed));
        });
  LoopAnalysisManager LAM;
  FunctionAnalysisManager FAM;
  CGSCCAnalysisManager CGAM;
  ModuleAnalysisManager MAM;
  PB.registerModuleAnalyses(MAM);
  PB.registerCGSCCAnalyses(CGAM);
  PB.registerFunctionAnalyses(FAM);
  PB.registerLoopAnalyses(LAM);
  PB.crossRegisterProxies(LAM, FAM, CGAM, MAM);
  StandardInstrumentations SI(Mod->getContext(), /*DebugLogging=*/false,
                              /*VerifyEach=*/false);
  SI.registerCallbacks(PIC, &MAM);
  ModulePassManager MPM;
  if (Error Err = PB.parsePassPipeline(MPM, passes)) {
    std::string Msg = toString(std::move(Err));
    return strdup(Msg.c_str());
  }
  MPM.run(*Mod, MAM);
  return nullptr;
}

extern "C" void wasabi_dispose_message(char *message) { free(message); }
