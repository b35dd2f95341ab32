//! The page's address as signals, and moving between pages without reloading: links followed in
//! place with `history.pushState`, Back and Forward through `popstate`.
//!
//! Five pages and a query string do not need a router crate: `leptos_router` was about a tenth of
//! the page's code, and every admin downloads the page.

use leptos::{ev, prelude::*};
use wasm_bindgen::JsCast;
use web_sys::{HtmlAnchorElement, MouseEvent, UrlSearchParams};

/// A query string's parameters, in order, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn new() -> Self {
        Query::default()
    }

    /// Reads `?a=1&b=two+words` (the `?` is optional) as the browser's `URLSearchParams` does:
    /// `+` is a space, as forms send it.
    pub fn parse(search: &str) -> Self {
        let Ok(params) = UrlSearchParams::new_with_str(search) else {
            return Query::default();
        };
        let text = |pair: &js_sys::Array, index| pair.get(index).as_string().unwrap_or_default();
        Query(
            js_sys::Array::from(&params)
                .iter()
                .map(|pair| {
                    let pair = js_sys::Array::from(&pair);
                    (text(&pair, 0), text(&pair, 1))
                })
                .collect(),
        )
    }

    /// Every name and value, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.get_str(name).map(str::to_owned)
    }

    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Sets a parameter, replacing any of the same name.
    pub fn insert(&mut self, name: &str, value: String) {
        match self.0.iter_mut().find(|(key, _)| key == name) {
            Some(pair) => pair.1 = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }

    /// `?a=1&b=two+words` (written by the browser's `URLSearchParams`), or nothing when there
    /// are no parameters.
    pub fn to_query_string(&self) -> String {
        let Ok(params) = UrlSearchParams::new() else {
            return String::new();
        };
        for (name, value) in &self.0 {
            params.append(name, value);
        }
        match String::from(params.to_string()) {
            query if query.is_empty() => query,
            query => format!("?{query}"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Address {
    path: String,
    query: Query,
}

impl Address {
    fn current() -> Self {
        let location = window().location();
        Address {
            path: location.pathname().unwrap_or_default(),
            query: Query::parse(&location.search().unwrap_or_default()),
        }
    }
}

/// Where the page is. Pages read `path` and `query` and move with [`Location::navigate`]; the URL
/// stays the single source of truth, so Back and deep links just work.
#[derive(Clone, Copy)]
pub struct Location {
    address: RwSignal<Address>,
    pub path: Memo<String>,
    pub query: Memo<Query>,
    /// The users list's address as the admin last saw it (search, filter and sort), for a
    /// person's page to lead back to.
    pub list: RwSignal<String>,
}

impl Location {
    /// Follows the browser's address from now on, and puts this in context for [`use_location`].
    pub fn provide() -> Self {
        let address = RwSignal::new(Address::current());
        let location = Location {
            address,
            path: Memo::new(move |_| address.read().path.clone()),
            query: Memo::new(move |_| address.read().query.clone()),
            list: RwSignal::new("/".to_owned()),
        };
        Effect::new(move |_| {
            let address = address.read();
            if matches!(address.path.as_str(), "/" | "/users") {
                location.list.set(format!(
                    "{}{}",
                    address.path,
                    address.query.to_query_string()
                ));
            }
        });
        // The listeners live as long as the page.
        let _ = window_event_listener(ev::popstate, move |_| location.follow_browser());
        let _ = window_event_listener(ev::click, move |event| location.follow_link(&event));
        provide_context(location);
        location
    }

    /// Goes to `href` (on this site) without reloading, as a new history entry; the same address
    /// again adds none.
    pub fn navigate(self, href: &str) {
        let window = window();
        let location = window.location();
        let here = format!(
            "{}{}",
            location.pathname().unwrap_or_default(),
            location.search().unwrap_or_default()
        );
        if let Ok(history) = window.history() {
            let _ = if here == href {
                history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(href))
            } else {
                history.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(href))
            };
        }
        window.scroll_to_with_x_and_y(0.0, 0.0);
        self.follow_browser();
    }

    fn follow_browser(self) {
        let now = Address::current();
        if self.address.read_untracked() != now {
            self.address.set(now);
        }
    }

    /// A plain left click on a link to this site is followed in place. Links the browser must
    /// handle itself are left alone: downloads, other windows, `rel="external"` (the recovery
    /// links in the Outbox open the person's page, which is not part of this app) and other sites.
    fn follow_link(self, event: &MouseEvent) {
        if event.default_prevented()
            || event.button() != 0
            || event.meta_key()
            || event.ctrl_key()
            || event.shift_key()
            || event.alt_key()
        {
            return;
        }
        let Some(link) = event
            .target()
            .and_then(|target| target.dyn_into::<web_sys::Element>().ok())
            .and_then(|element| element.closest("a[href]").ok().flatten())
            .and_then(|element| element.dyn_into::<HtmlAnchorElement>().ok())
        else {
            return;
        };
        let target = link.target();
        if link.has_attribute("download")
            || !(target.is_empty() || target == "_self")
            || link.rel().split_whitespace().any(|rel| rel == "external")
            || window().location().origin().ok() != Some(link.origin())
        {
            return;
        }
        event.prevent_default();
        self.navigate(&format!(
            "{}{}{}",
            link.pathname(),
            link.search(),
            link.hash()
        ));
    }
}

/// The [`Location`] that [`Location::provide`] put in context.
pub fn use_location() -> Location {
    expect_context::<Location>()
}
