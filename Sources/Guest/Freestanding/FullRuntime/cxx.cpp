// cxx.cpp — the std::string members libswiftCore.a imports, instantiated here without
// exceptions (libstdc++'s own copies bring the exception runtime and its thread-local state).
#include <string>
template class std::__cxx11::basic_string<char>;
