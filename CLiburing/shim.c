// Everything in CLiburing is a static inline function in include/CLiburing.h; SwiftPM
// needs one translation unit to build the target as a C library.
#include "CLiburing.h"
