#!/usr/bin/env bash
# README's Swift examples are what a newcomer pastes first: every ```swift block of README.md must
# build, without warnings, as the main.swift of an executable that depends on this package (its
# AsyncJobs, AsyncJobsLoop and AsyncJobsTesting libraries), and run to a zero exit status. The
# executables live in a package generated under .build/readme-snippets (its own scratch path).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=.build/readme-snippets
rm -rf "$work/Sources" "$work/Package.swift"
mkdir -p "$work/Sources"
count=$(python3 - "$work" <<'PY'
import os, re, sys
text = open("README.md").read()
blocks = re.findall(r"^```swift\n(.*?)^```", text, re.S | re.M)
for number, block in enumerate(blocks, 1):
    folder = os.path.join(sys.argv[1], "Sources", f"readme{number}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "main.swift"), "w") as f:
        f.write(block)
print(len(blocks))
PY
)
if [ "$count" -eq 0 ]; then echo "README.md has no swift block"; echo "readme: 0 passed, 1 failed"; exit 1; fi
identity=$(basename "$root")
{
  echo '// swift-tools-version: 6.2'
  echo 'import PackageDescription'
  echo 'let library: [Target.Dependency] = ["AsyncJobs", "AsyncJobsLoop", "AsyncJobsTesting"].map {'
  echo "    .product(name: \$0, package: \"$identity\")"
  echo '}'
  echo 'let package = Package('
  echo '    name: "readme-snippets",'
  echo "    dependencies: [.package(path: \"$root\")],"
  echo "    targets: (1...$count).map { .executableTarget(name: \"readme\\(\$0)\", dependencies: library) },"
  echo '    swiftLanguageModes: [.v6]'
  echo ')'
} > "$work/Package.swift"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0
if ! swift build --package-path "$work" > "$log" 2>&1; then
  grep -E "error|warning:" -A4 "$log" | head -60
  echo "FAIL the README's Swift blocks do not build (block N is $work/Sources/readmeN/main.swift)"
  echo "readme: 0 passed, $count failed"
  exit 1
fi
bin=$(swift build --package-path "$work" --show-bin-path)
for number in $(seq 1 "$count"); do
  if grep -q "Sources/readme$number/main.swift.*warning:" "$log"; then
    grep -A4 "Sources/readme$number/main.swift.*warning:" "$log" | head -20
    echo "FAIL README swift block $number builds with warnings"; failed=$((failed + 1)); continue
  fi
  if timeout 120 "$bin/readme$number" > "$log.out" 2>&1; then
    echo "PASS README swift block $number builds and runs"; passed=$((passed + 1))
  else
    tail -20 "$log.out"
    echo "FAIL README swift block $number exits non-zero"; failed=$((failed + 1))
  fi
done
rm -f "$log.out"
echo "readme: $passed passed, $failed failed"
[ $failed -eq 0 ]
