fn main() -> std::process::ExitCode {
    docspace_retention::cli::main()
}
