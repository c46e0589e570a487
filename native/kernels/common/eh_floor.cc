// anyprec kernels, common floor: std::exception_ptr without GCC 12's CXXABI_1.3.13.
//
// The thread pool hands a task's exception to the caller as a std::exception_ptr. From GCC 12 on,
// the headers define exception_ptr's copy constructor and destructor inline, calling the members
// _M_addref and _M_release, which libstdc++ exports only since GCC 12 (at CXXABI_1.3.13). GCC 11's
// libstdc++ (RHEL 9, Amazon Linux 2023) lacks them: the addon would fail to load, or, bound lazily,
// end the process at the first exception handed across threads.
// Every libstdc++ since GCC 4.4 exports the out-of-line copy constructor and destructor
// (CXXABI_1.3.3), which take and drop one reference to the exception object: these two members,
// defined here with hidden visibility (they serve this module only and never replace the
// runtime's own), do their work through those older entry points. The reference counting is the
// runtime's own; only the symbol it is reached through changes. native/tests/test_threadpool.cc
// checks copies keep the exception alive and the last release destroys it exactly once.
#include <exception>

#if defined(__GLIBCXX__) && defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE >= 12

// The runtime's exported copy constructor and destructor of std::__exception_ptr::exception_ptr
// (C1/D1, version CXXABI_1.3.3), reached by their mangled names; `self` and `other` point at an
// exception_ptr's storage (one pointer).
extern "C" void anyprec_eh_copy(void* self, const void* other) noexcept
    __asm__("_ZNSt15__exception_ptr13exception_ptrC1ERKS0_");
extern "C" void anyprec_eh_destroy(void* self) noexcept
    __asm__("_ZNSt15__exception_ptr13exception_ptrD1Ev");

namespace std {
namespace __exception_ptr {

static_assert(sizeof(exception_ptr) == sizeof(void*), "exception_ptr is one pointer");

// One more reference: the runtime's copy constructor into a scratch slot that is never destroyed.
void exception_ptr::_M_addref() noexcept {
  void* scratch = nullptr;
  anyprec_eh_copy(&scratch, this);
}

// One reference less: the runtime's destructor on a scratch copy of the pointer (the caller
// forgets or overwrites its own).
void exception_ptr::_M_release() noexcept {
  void* scratch = _M_exception_object;
  anyprec_eh_destroy(&scratch);
}

}  // namespace __exception_ptr
}  // namespace std

// Hidden: the headers declared both members with default visibility (a visibility attribute here
// would be ignored), so the assembler marks them. Exported, they would take the place of the
// runtime's own, whose copy constructor and destructor call them: endless recursion.
__asm__(".hidden _ZNSt15__exception_ptr13exception_ptr9_M_addrefEv");
__asm__(".hidden _ZNSt15__exception_ptr13exception_ptr10_M_releaseEv");

#endif
