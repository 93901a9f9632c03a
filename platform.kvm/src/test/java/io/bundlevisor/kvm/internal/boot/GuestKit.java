package io.bundlevisor.kvm.internal.boot;

import java.nio.file.Files;
import java.nio.file.Path;

/** The files of scripts/guest-kit.sh, in {@code .guest-kit/} at the repository root, where it has been run. */
public final class GuestKit {

    private GuestKit() {
    }

    /**
     * {@code .guest-kit/name} in the working directory or one of its parents, or null if there is none or the kit
     * is incomplete (the script writes its stamp last).
     */
    public static Path file(String name) {
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            Path candidate = d.resolve(".guest-kit").resolve(name);
            if (Files.isRegularFile(candidate) && Files.isRegularFile(candidate.resolveSibling("stamp"))) {
                return candidate;
            }
        }
        return null;
    }
}
