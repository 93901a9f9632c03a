package io.bundlevisor.api.internal;

import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.MapperFeature;
import tools.jackson.databind.PropertyNamingStrategies;
import tools.jackson.databind.exc.MismatchedInputException;
import tools.jackson.databind.exc.UnrecognizedPropertyException;
import tools.jackson.databind.json.JsonMapper;

/**
 * The API's JSON (Jackson): snake_case names, an unknown field, a wrong type (no coercion of "2" into 2), trailing
 * tokens or a missing body are refused with one line naming the field.
 */
final class Json {

    static final JsonMapper MAPPER = JsonMapper.builder()
            .propertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .build();

    private Json() {
    }

    /** {@code body} as a {@code type}, or an {@link ApiException} with one line. */
    static <T> T read(String body, Class<T> type) throws ApiException {
        if (body == null || body.isBlank()) {
            throw new ApiException("the request needs a JSON body");
        }
        try {
            T value = MAPPER.readValue(body, type);
            if (value == null) {
                throw new ApiException("the body must be a JSON object");
            }
            return value;
        } catch (UnrecognizedPropertyException e) {
            throw new ApiException("unknown field '" + e.getPropertyName() + "'");
        } catch (MismatchedInputException e) {
            if (e.getPath().isEmpty()) {
                throw new ApiException("the body must be a JSON object of " + type.getSimpleName());
            }
            throw new ApiException("'" + e.getPath().getLast().getPropertyName() + "' must be "
                    + kind(e.getTargetType()));
        } catch (JacksonException e) {
            throw new ApiException("malformed JSON: " + firstLine(e.getOriginalMessage()));
        }
    }

    /** What a JSON value of {@code type} is, for a person. */
    private static String kind(Class<?> type) {
        if (type == null) {
            return "of another type";
        }
        if (type == Integer.class || type == int.class || type == Long.class || type == long.class) {
            return "an integer";
        }
        if (type == Boolean.class || type == boolean.class) {
            return "true or false";
        }
        if (type == String.class) {
            return "a string";
        }
        if (java.util.Map.class.isAssignableFrom(type) || type.isRecord()) {
            return "an object";
        }
        return "a " + type.getSimpleName();
    }

    static String write(Object value) {
        return MAPPER.writeValueAsString(value);
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        String line = nl < 0 ? s : s.substring(0, nl);
        return line.length() > 200 ? line.substring(0, 200) + "..." : line;
    }
}
