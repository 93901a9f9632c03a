package io.bundlevisor.manage.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

import picocli.CommandLine.IVersionProvider;

/** {@code --version}: Bundlevisor's version (from the build), the Java and the kernel it runs on. */
public final class Versions implements IVersionProvider {

    /** The project's version, as the build recorded it. */
    public static String bundlevisor() {
        Properties p = new Properties();
        try (InputStream in = Versions.class.getResourceAsStream("/io/bundlevisor/manage/launch/version.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            // Unknown below.
        }
        return p.getProperty("version", "unknown");
    }

    @Override
    public String[] getVersion() {
        return new String[] {
            "bundlevisor " + bundlevisor(),
            "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + "), "
                    + System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                    + System.getProperty("os.arch")
        };
    }
}
