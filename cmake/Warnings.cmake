# Project-wide warning flags, applied through the infergate_warnings interface target.
add_library(infergate_warnings INTERFACE)
target_compile_options(infergate_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
  # GCC 12 misreports Asio's coroutine frame allocator (operator new/delete pairs).
  -Wno-mismatched-new-delete)
if(INFERGATE_WERROR)
  target_compile_options(infergate_warnings INTERFACE -Werror)
endif()
