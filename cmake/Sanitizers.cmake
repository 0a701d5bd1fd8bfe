# -DINFERGATE_SANITIZE=ON builds everything with ASan and UBSan.
if(INFERGATE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
