// Text cleaning with utf8proc.
#include "rnnkit/data/text.h"

#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "rnnkit/core/error.h"

namespace rnnkit {

const char* invalid_utf8_name(InvalidUtf8 policy) {
  switch (policy) {
    case InvalidUtf8::Latin1: return "latin1";
    case InvalidUtf8::Replace: return "replace";
    case InvalidUtf8::Error: return "error";
  }
  return "?";
}

InvalidUtf8 parse_invalid_utf8(const std::string& name) {
  for (InvalidUtf8 p : {InvalidUtf8::Latin1, InvalidUtf8::Replace, InvalidUtf8::Error})
    if (name == invalid_utf8_name(p)) return p;
  throw Error("unknown invalid-UTF-8 policy '" + name + "': expected latin1, replace or error");
}

namespace {

void append_codepoint(std::string& out, utf8proc_int32_t cp) {
  utf8proc_uint8_t buf[4];
  const utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), size_t(n));
}

}  // namespace

std::string to_utf8(std::string_view bytes, InvalidUtf8 policy, const std::string& where) {
  std::string out;
  out.reserve(bytes.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(bytes.data());
  const size_t n = bytes.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {  // ASCII fast path
      if (c == '\r') {
        out.push_back('\n');
        i += (i + 1 < n && p[i + 1] == '\n') ? 2 : 1;
      } else {
        if (c != 0) out.push_back(char(c));
        ++i;
      }
      continue;
    }
    utf8proc_int32_t cp;
    const utf8proc_ssize_t len = utf8proc_iterate(p + i, utf8proc_ssize_t(n - i), &cp);
    if (len > 0) {
      out.append(reinterpret_cast<const char*>(p + i), size_t(len));
      i += size_t(len);
      continue;
    }
    switch (policy) {
      case InvalidUtf8::Latin1: append_codepoint(out, c); break;
      case InvalidUtf8::Replace: append_codepoint(out, 0xFFFD); break;
      case InvalidUtf8::Error:
        throw Error(where + ": invalid UTF-8 byte 0x" + "0123456789abcdef"[c >> 4] + "0123456789abcdef"[c & 15] +
                    " at byte offset " + std::to_string(i));
    }
    ++i;
  }
  return out;
}

std::string strip_html(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto starts_with_ci = [&](size_t i, const char* word) {
    for (size_t k = 0; word[k]; ++k)
      if (i + k >= s.size() || std::tolower(static_cast<unsigned char>(s[i + k])) != word[k]) return false;
    return true;
  };
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const char next = i + 1 < s.size() ? s[i + 1] : '\0';
    const bool tag_start = std::isalpha(static_cast<unsigned char>(next)) || next == '/' || next == '!' || next == '?';
    if (c == '<' && tag_start) {
      if (starts_with_ci(i, "<!--")) {
        const size_t end = s.find("-->", i + 4);
        i = end == std::string_view::npos ? s.size() : end + 3;
        continue;
      }
      for (const char* block : {"<script", "<style"}) {
        if (starts_with_ci(i, block)) {
          const std::string close = std::string("</") + (block + 1);
          size_t j = i + 1;
          while (j < s.size() && !starts_with_ci(j, close.c_str())) ++j;
          i = j;
          break;
        }
      }
      const size_t end = s.find('>', i);
      if (end == std::string_view::npos) {  // a lone '<' is text
        out.push_back(c);
        ++i;
        continue;
      }
      out.push_back(' ');
      i = end + 1;
      continue;
    }
    if (c == '&') {
      const size_t semi = s.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const std::string_view name = s.substr(i + 1, semi - i - 1);
        long cp = -1;
        if (name == "amp") cp = '&';
        else if (name == "lt") cp = '<';
        else if (name == "gt") cp = '>';
        else if (name == "quot") cp = '"';
        else if (name == "apos" || name == "#39") cp = '\'';
        else if (name == "nbsp") cp = ' ';
        else if (name.size() > 1 && name[0] == '#') {
          const std::string digits(name.substr(name[1] == 'x' || name[1] == 'X' ? 2 : 1));
          char* end = nullptr;
          const long v = std::strtol(digits.c_str(), &end, name[1] == 'x' || name[1] == 'X' ? 16 : 10);
          if (!digits.empty() && end && *end == '\0' && utf8proc_codepoint_valid(utf8proc_int32_t(v))) cp = v;
        }
        if (cp >= 0) {
          append_codepoint(out, utf8proc_int32_t(cp));
          i = semi + 1;
          continue;
        }
      }
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

namespace {

// utf8proc_map of a piece of text with `flags`, appended to `out`.
void map_append(std::string_view piece, int flags, std::string& out) {
  utf8proc_uint8_t* mapped = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(piece.data()),
                                          utf8proc_ssize_t(piece.size()), &mapped, utf8proc_option_t(flags));
  if (n < 0) throw Error(std::string("text cleaning failed: ") + utf8proc_errmsg(n) + " (is the text valid UTF-8?)");
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
  out.append(reinterpret_cast<const char*>(mapped), size_t(n));
}

bool is_ascii(char c) { return static_cast<unsigned char>(c) < 0x80; }

}  // namespace

std::string clean_text(std::string_view utf8, const CleanOptions& o) {
  std::string text = o.strip_html ? strip_html(utf8) : std::string(utf8);
  int flags = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
  if (o.nfkc) flags |= UTF8PROC_COMPAT;
  if (o.lowercase) flags |= UTF8PROC_CASEFOLD;
  if (o.strip_accents) flags |= UTF8PROC_STRIPMARK;
  if (o.nfkc || o.lowercase || o.strip_accents) {
    // ASCII is its own normal form and folds case as tolower does, so only the stretches of
    // non-ASCII characters go through utf8proc. Normalising never joins a character to an ASCII one
    // after it (ASCII has combining class 0 and ends no composition), so cutting the text before an
    // ASCII character changes nothing; the ASCII character just before a stretch goes with it, as
    // it may compose with what follows ("e" + U+0301 -> U+00E9).
    std::string mapped;
    mapped.reserve(text.size());
    const std::string_view t = text;
    size_t i = 0;
    while (i < t.size()) {
      size_t j = i;
      while (j < t.size() && is_ascii(t[j])) ++j;
      const size_t ascii_end = j < t.size() && j > i ? j - 1 : j;
      for (size_t k = i; k < ascii_end; ++k)
        mapped.push_back(o.lowercase && t[k] >= 'A' && t[k] <= 'Z' ? char(t[k] - 'A' + 'a') : t[k]);
      if (j == t.size()) break;
      size_t end = j;
      while (end < t.size() && !is_ascii(t[end])) ++end;
      map_append(t.substr(ascii_end, end - ascii_end), flags, mapped);
      i = end;
    }
    text = std::move(mapped);
  }
  if (!o.collapse_whitespace) return text;
  std::string out;
  out.reserve(text.size());
  bool space = false;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  size_t i = 0;
  while (i < text.size()) {
    utf8proc_int32_t cp = p[i];
    utf8proc_ssize_t len = 1;
    if (cp >= 0x80) len = utf8proc_iterate(p + i, utf8proc_ssize_t(text.size() - i), &cp);
    const size_t step = len > 0 ? size_t(len) : 1;
    const utf8proc_category_t cat =
        cp < 0x80 ? (cp == ' ' ? UTF8PROC_CATEGORY_ZS : UTF8PROC_CATEGORY_CN) : len > 0 ? utf8proc_category(cp) : UTF8PROC_CATEGORY_CN;
    const bool is_space = cp == '\t' || cp == '\n' || cp == '\v' || cp == '\f' || cat == UTF8PROC_CATEGORY_ZS ||
                          cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
    if (is_space) {
      space = !out.empty();
    } else {
      if (space) out.push_back(' ');
      space = false;
      if (step == 1) out.push_back(text[i]);
      else out.append(text, i, step);
    }
    i += step;
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  const std::streamoff size = in.tellg();
  std::string bytes(size_t(std::max<std::streamoff>(size, 0)), '\0');
  in.seekg(0);
  if (size > 0 && !in.read(bytes.data(), size)) throw Error(path + ": read failed");
  return bytes;
}

}  // namespace rnnkit
