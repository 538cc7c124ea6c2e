// libjpeg's errors for its decoder (data/image_decode.cpp) and encoder (data/jpeg_encode.cpp),
// C-style. libjpeg reports a fatal error through error_exit, which must not return: it formats
// the message into JpegErrors and jumps back to the caller's setjmp. So nothing with a
// destructor may be alive between that setjmp and a call into libjpeg.
#pragma once

// clang-format off
#include <cstdio>  // jpeglib.h needs FILE declared first
#include <jpeglib.h>
// clang-format on

#include <csetjmp>

namespace rt {

struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// The JpegErrors whose mgr libjpeg was given (cinfo->err = jpeg_std_error(&errors->mgr)).
inline JpegErrors* jpeg_errors_of(j_common_ptr cinfo) { return reinterpret_cast<JpegErrors*>(cinfo->err); }

// Back to the setjmp, with `message` already written.
[[noreturn]] inline void jpeg_jump_back(j_common_ptr cinfo) { std::longjmp(jpeg_errors_of(cinfo)->jump, 1); }

// error_exit for libjpeg's own message.
[[noreturn]] inline void jpeg_fail_with_its_message(j_common_ptr cinfo) {
  (*cinfo->err->format_message)(cinfo, jpeg_errors_of(cinfo)->message);
  jpeg_jump_back(cinfo);
}

}  // namespace rt
