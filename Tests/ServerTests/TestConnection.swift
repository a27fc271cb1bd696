@_exported import WebTesting

/// The suites here were written against this name; the client itself is WebTesting's
/// (exported to every file of this target from here).
typealias TestConnection = TestClient
