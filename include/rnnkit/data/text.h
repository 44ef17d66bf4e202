// Text cleaning: bytes of any provenance -> valid UTF-8, normalised, optionally without HTML.
#pragma once

#include <string>
#include <string_view>

namespace rnnkit {

// What to do with bytes that are not valid UTF-8 (e-mails mix UTF-8 and Latin-1).
enum class InvalidUtf8 {
  Latin1,   // decode each invalid byte as the Latin-1 character it is (the usual legacy encoding)
  Replace,  // replace each invalid byte by U+FFFD
  Error,    // throw Error naming the byte offset
};

const char* invalid_utf8_name(InvalidUtf8 policy);  // "latin1", "replace", "error"
InvalidUtf8 parse_invalid_utf8(const std::string& name);

// Valid UTF-8 from arbitrary bytes under `policy`; CRLF and lone CR become LF. `where` names the
// source in errors. NUL bytes are dropped.
std::string to_utf8(std::string_view bytes, InvalidUtf8 policy, const std::string& where = "text");

struct CleanOptions {
  bool lowercase = true;       // Unicode case folding
  bool nfkc = true;            // compatibility composition: "ﬁ" -> "fi", full-width -> ASCII
  bool strip_accents = false;  // "café" -> "cafe"
  bool strip_html = false;     // drop <tags>, decode &amp; &lt; &gt; &quot; &#39; &nbsp; &#NN; &#xNN;
  bool collapse_whitespace = true;  // runs of white space -> one space, trimmed
};

// Cleans valid UTF-8 text (the output of to_utf8) with utf8proc.
std::string clean_text(std::string_view utf8, const CleanOptions& options);

// Removes HTML tags, comments, <script>/<style> contents, and decodes common entities.
std::string strip_html(std::string_view text);

// Reads a whole file as bytes; throws Error naming the path.
std::string read_file(const std::string& path);

}  // namespace rnnkit
