//! Puts the git commit into `--version` (`0.1.0 (abc1234)`). Builds from a tarball or
//! a container context without `.git` can pass it in `GIT_COMMIT`.
//!
//! The variable the program sees is `BUILD_GIT_COMMIT`, deliberately outside the
//! `DOCSPACE_RETENTION_` prefix: cargo also exports it to `cargo run`/`cargo test`
//! processes, where a prefixed name would be read as an (unknown) config key.

fn main() {
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            std::process::Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
}
