/// A route's path, split into segments when the route is added.
struct RoutePattern: Equatable {
    enum Segment: Equatable {
        case literal([UInt8])
        case parameter(String)
        /// `*`: any one segment.
        case any
        /// `**`: the rest of the path (the last segment only).
        case rest
    }

    enum Malformed: Error, Equatable {
        case unclosedBrace(String)
        case emptyParameterName
        case restNotLast
        case tooManyParameters(Int)
        case duplicateParameter(String)
    }

    let segments: [Segment]

    init(_ path: String) throws(Malformed) {
        var segments: [Segment] = []
        let pieces = path.split(separator: "/", omittingEmptySubsequences: true)
        var names: Set<String> = []
        for (i, piece) in pieces.enumerated() {
            if piece == "**" {
                guard i == pieces.count - 1 else { throw .restNotLast }
                segments.append(.rest)
            } else if piece == "*" {
                segments.append(.any)
            } else if piece.hasPrefix("{") {
                guard piece.hasSuffix("}"), piece.count >= 2 else { throw .unclosedBrace(String(piece)) }
                let name = String(piece.dropFirst().dropLast())
                guard !name.isEmpty else { throw .emptyParameterName }
                guard names.insert(name).inserted else { throw .duplicateParameter(name) }
                segments.append(.parameter(name))
            } else {
                segments.append(.literal(Array(piece.utf8)))
            }
        }
        let captured = segments.filter { if case .literal = $0 { return false }; return true }.count
        guard captured <= RouteParameters.capacity else { throw .tooManyParameters(captured) }
        self.segments = segments
    }

    /// The names of the segments a match captures, in order (`*` captures, unnamed).
    var parameterNames: [String] {
        segments.compactMap {
            switch $0 {
            case .literal: return nil
            case .parameter(let name): return name
            case .any: return "*"
            case .rest: return "**"
            }
        }
    }
}
