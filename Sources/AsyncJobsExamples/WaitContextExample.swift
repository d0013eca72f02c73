public enum WaitContextExample { public static func run(output: @escaping @Sendable (String) -> Void) -> Int32 { 0 } }
