//! Times as a person reads them: in their own language and time zone, through the browser's
//! `Intl` (no date crate in the page). The server renders the users table too (`ssr`), where
//! there is no browser: there a time reads as its UTC day, which the page replaces at once.

/// A short local date, "Feb 17, 2020".
pub fn short_date(time: &str) -> String {
    format(time, &[("dateStyle", "medium")])
}

/// The exact local date and time, for a tooltip: "Feb 17, 2020, 9:04:11 AM".
pub fn exact(time: &str) -> String {
    format(time, &[("dateStyle", "medium"), ("timeStyle", "medium")])
}

/// A local date and time to the minute, "Feb 17, 2020, 9:04 AM".
pub fn date_time(time: &str) -> String {
    format(time, &[("dateStyle", "medium"), ("timeStyle", "short")])
}

/// One way of writing times, as `Intl` options.
type Style = &'static [(&'static str, &'static str)];

#[cfg(target_arch = "wasm32")]
thread_local! {
    /// Making an `Intl` formatter costs about half a millisecond, and a table of 50 rows asks for
    /// one or two a row each time it is drawn: each style is made once.
    static DATE_FORMATS: std::cell::RefCell<Vec<(Style, js_sys::Intl::DateTimeFormat)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    static RELATIVE_FORMAT: js_sys::Intl::RelativeTimeFormat = {
        let options = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&options, &"numeric".into(), &"auto".into());
        js_sys::Intl::RelativeTimeFormat::new(&js_sys::Array::new(), &options)
    };
}

#[cfg(target_arch = "wasm32")]
fn date_format(style: Style) -> js_sys::Intl::DateTimeFormat {
    use js_sys::{Array, Intl::DateTimeFormat, Object, Reflect};
    DATE_FORMATS.with_borrow_mut(|formats| {
        if let Some((_, format)) = formats.iter().find(|(made, _)| *made == style) {
            return format.clone();
        }
        let settings = Object::new();
        for (name, value) in style {
            let _ = Reflect::set(&settings, &(*name).into(), &(*value).into());
        }
        let format = DateTimeFormat::new(&Array::new(), &settings);
        formats.push((style, format.clone()));
        format
    })
}

#[cfg(target_arch = "wasm32")]
fn format(time: &str, style: Style) -> String {
    use js_sys::Date;
    let date = Date::new(&time.into());
    if date.get_time().is_nan() {
        return time.to_owned();
    }
    date_format(style)
        .format()
        .call1(&wasm_bindgen::JsValue::UNDEFINED, &date)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_else(|| time.to_owned())
}

#[cfg(not(target_arch = "wasm32"))]
fn format(time: &str, _style: Style) -> String {
    time.get(..10).unwrap_or(time).to_owned()
}

/// How long ago (or how far ahead), in words: "3 days ago", "in 2 hours", "now".
#[cfg(target_arch = "wasm32")]
pub fn relative(time: &str) -> String {
    use js_sys::Date;
    let at = Date::parse(time);
    if at.is_nan() {
        return time.to_owned();
    }
    let seconds = (at - Date::now()) / 1000.0;
    let (value, unit) = [
        (60.0, "second"),
        (60.0, "minute"),
        (24.0, "hour"),
        (30.0, "day"),
        (12.0, "month"),
    ]
    .iter()
    .try_fold(seconds, |value, (size, unit)| {
        if value.abs() < *size {
            Err((value, *unit))
        } else {
            Ok(value / size)
        }
    })
    .map_or_else(|found| found, |years| (years, "year"));
    RELATIVE_FORMAT.with(|format| format.format(value.round(), unit).into())
}

#[cfg(not(target_arch = "wasm32"))]
pub fn relative(time: &str) -> String {
    time.to_owned()
}
