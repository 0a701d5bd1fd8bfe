// The one translation unit that compiles Boost.Asio's SSL implementation (separate compilation).
#include <boost/asio/ssl/impl/src.hpp>
