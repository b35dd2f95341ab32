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

#[cfg(target_arch = "wasm32")]
fn format(time: &str, options: &[(&str, &str)]) -> String {
    use js_sys::{Array, Date, Intl::DateTimeFormat, Object, Reflect};
    let date = Date::new(&time.into());
    if date.get_time().is_nan() {
        return time.to_owned();
    }
    let settings = Object::new();
    for (name, value) in options {
        let _ = Reflect::set(&settings, &(*name).into(), &(*value).into());
    }
    DateTimeFormat::new(&Array::new(), &settings)
        .format()
        .call1(&wasm_bindgen::JsValue::UNDEFINED, &date)
        .ok()
        .and_then(|text| text.as_string())
        .unwrap_or_else(|| time.to_owned())
}

#[cfg(not(target_arch = "wasm32"))]
fn format(time: &str, _options: &[(&str, &str)]) -> String {
    time.get(..10).unwrap_or(time).to_owned()
}

/// How long ago (or how far ahead), in words: "3 days ago", "in 2 hours", "now".
#[cfg(target_arch = "wasm32")]
pub fn relative(time: &str) -> String {
    use js_sys::{Array, Date, Intl::RelativeTimeFormat, Object, Reflect};
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
    let options = Object::new();
    let _ = Reflect::set(&options, &"numeric".into(), &"auto".into());
    RelativeTimeFormat::new(&Array::new(), &options)
        .format(value.round(), unit)
        .into()
}

#[cfg(not(target_arch = "wasm32"))]
pub fn relative(time: &str) -> String {
    time.to_owned()
}
