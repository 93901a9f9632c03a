package io.bundlevisor.manage.launch;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * The executable jar's bundles as files, so that each bundle's location is a real {@code file:} URL and the shell's
 * plain {@code update ID} rereads it (as Karaf's bundles come from its {@code system/} folder). The jar's
 * {@code jar/*.jar} are unpacked once into a folder named by a digest of their names and checksums under the cache
 * ({@code $BUNDLEVISOR_CACHE}, else {@code $XDG_CACHE_HOME/bundlevisor}, else {@code ~/.cache/bundlevisor}); a
 * later start of the same jar finds them there. bnd's launcher then installs them from those files
 * ({@code launch.embedded=false}), copying each into the framework's cache ({@code launch.noreferences=true}) so a
 * file replaced later does not pull the code from under a running bundle.
 */
final class BundleFiles {

    /** How many builds' bundle folders the cache keeps. */
    static final int KEEP = 4;

    private BundleFiles() {
    }

    /**
     * The bnd launcher's properties that install the jar's bundles from unpacked files, or none if the jar has no
     * embedded bundles (a development run) or the cache cannot be written (the bundles then stay embedded).
     */
    static Map<String, String> properties(Path jar, Path cache) {
        try (JarFile j = new JarFile(jar.toFile())) {
            JarEntry props = j.getJarEntry("launcher.properties");
            if (props == null) {
                return Map.of();
            }
            Properties launcher = new Properties();
            try (InputStream in = j.getInputStream(props)) {
                launcher.load(in);
            }
            String bundles = launcher.getProperty("launch.bundles", "");
            if (bundles.isBlank()) {
                return Map.of();
            }
            Path dir = unpack(j, cache);
            List<String> files = new ArrayList<>();
            for (String b : bundles.split(",")) {
                files.add(dir.resolve(b.strip()).toString());
            }
            Map<String, String> p = new LinkedHashMap<>();
            p.put("launch.embedded", "false");
            p.put("launch.noreferences", "true");
            p.put("launch.bundles", String.join(",", files));
            return p;
        } catch (IOException e) {
            return Map.of();
        }
    }

    /** The cache folder: {@code $BUNDLEVISOR_CACHE}, else {@code $XDG_CACHE_HOME/bundlevisor}, else ~/.cache. */
    static Path cache(Map<String, String> env) {
        String own = env.get("BUNDLEVISOR_CACHE");
        if (own != null && !own.isBlank()) {
            return Path.of(own);
        }
        String xdg = env.get("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("bundlevisor");
    }

    /** Unpacks {@code jar/*.jar} into {@code cache/bundles/DIGEST} once; the folder (its {@code jar/} inside). */
    private static Path unpack(JarFile jar, Path cache) throws IOException {
        List<JarEntry> entries = new ArrayList<>();
        for (JarEntry e : Collections.list(jar.entries())) {
            if (!e.isDirectory() && e.getName().startsWith("jar/") && e.getName().endsWith(".jar")
                    && e.getName().indexOf('/', 4) < 0) {
                entries.add(e);
            }
        }
        Path dir = cache.resolve("bundles").resolve(digest(entries));
        if (Files.isDirectory(dir)) {
            Files.setLastModifiedTime(dir, java.nio.file.attribute.FileTime.from(java.time.Instant.now()));
            return dir;
        }
        Files.createDirectories(dir.getParent());
        Path staging = Files.createTempDirectory(dir.getParent(), dir.getFileName() + ".");
        Files.createDirectories(staging.resolve("jar"));
        for (JarEntry e : entries) {
            try (InputStream in = jar.getInputStream(e)) {
                Files.copy(in, staging.resolve(e.getName()));
            }
        }
        try {
            Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
        } catch (FileAlreadyExistsException | AtomicMoveNotSupportedException
                | java.nio.file.DirectoryNotEmptyException raced) {
            // Another start unpacked the same bundles meanwhile: use its folder.
            deleteTree(staging);
        }
        prune(dir.getParent(), dir);
        return dir;
    }

    private static String digest(List<JarEntry> entries) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (JarEntry e : entries) {
                sha.update((e.getName() + ":" + e.getCrc() + ":" + e.getSize() + "\n").getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Keeps the {@value #KEEP} most recently used folders (other builds' bundles); never {@code current}. */
    private static void prune(Path parent, Path current) {
        try (var list = Files.list(parent)) {
            List<Path> old = list.filter(p -> !p.equals(current) && Files.isDirectory(p)
                    && p.getFileName().toString().matches("[0-9a-f]{16}"))
                    .sorted(java.util.Comparator.comparing((Path p) -> {
                        try {
                            return Files.getLastModifiedTime(p);
                        } catch (IOException e) {
                            return java.nio.file.attribute.FileTime.fromMillis(0);
                        }
                    }).reversed()).toList();
            for (Path p : old.subList(Math.min(old.size(), KEEP - 1), old.size())) {
                deleteTree(p);
            }
        } catch (IOException e) {
            // Pruning is housekeeping: a failure leaves a folder behind, nothing more.
        }
    }

    private static void deleteTree(Path p) throws IOException {
        try (var walk = Files.walk(p)) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        }
    }
}
