# -DINFERGATE_SANITIZE=ON builds everything with ASan and UBSan.
if(INFERGATE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
# -DINFERGATE_TSAN=ON builds everything with ThreadSanitizer (not with INFERGATE_SANITIZE).
if(INFERGATE_TSAN)
  if(INFERGATE_SANITIZE)
    message(FATAL_ERROR "INFERGATE_TSAN and INFERGATE_SANITIZE cannot be combined")
  endif()
  # GCC warns that TSan does not model atomic_thread_fence (Asio uses one); noted, not an error.
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
endif()
