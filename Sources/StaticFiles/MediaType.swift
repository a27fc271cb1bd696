/// Content-Type by file extension (case-insensitive), as nginx's mime.types gives it for the
/// common web types; anything else is application/octet-stream, which a browser downloads
/// rather than renders (the safe default for a name it cannot vouch for).
public enum MediaType {
    public static func of(_ path: [UInt8]) -> StaticString {
        guard let dot = path.lastIndex(of: UInt8(ascii: ".")),
              !path[dot...].contains(UInt8(ascii: "/")), path.count - dot - 1 <= 8 else { return "application/octet-stream" }
        var ext = ""
        for b in path[(dot + 1)...] { ext.unicodeScalars.append(Unicode.Scalar(b >= 65 && b <= 90 ? b | 0x20 : b)) }
        switch ext {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json", "map": return "application/json"
        case "txt", "md": return "text/plain; charset=utf-8"
        case "csv": return "text/csv; charset=utf-8"
        case "xml": return "application/xml"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "avif": return "image/avif"
        case "ico": return "image/x-icon"
        case "pdf": return "application/pdf"
        case "wasm": return "application/wasm"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "mp4": return "video/mp4"
        case "webm": return "video/webm"
        case "mp3": return "audio/mpeg"
        case "ogg": return "audio/ogg"
        case "zip": return "application/zip"
        case "gz": return "application/gzip"
        case "tar": return "application/x-tar"
        default: return "application/octet-stream"
        }
    }
}
