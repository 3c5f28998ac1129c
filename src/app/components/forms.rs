//! An island's forms: each posts to a server function, as a plain form post without JavaScript;
//! once hydrated, it calls the server function in place through the island's one [`Forms`]
//! action, and its outcome shows in the [`ActionHeader`] above.
//!
//! Hand-written in place of Leptos's `ActionForm` and a `ServerAction` per form (leptos 0.8
//! `form.rs`, leptos_server `action.rs`), with the same markup and the same progressive
//! enhancement, for page weight (issue 18, README Performance):
//! - a `ServerAction` per server function cost the island's wasm its own copy of the action
//!   machinery (signals, memo, arena storage, spawning) each; one [`Forms`] action per island
//!   holds every call as a boxed future, so there is one copy for the whole app;
//! - `ActionForm` reads the submitted form with serde_qs (a nested-map parser, and one
//!   deserializer per server function). Our forms are flat (one value per field name), so
//!   [`FormFields`] hands the fields to the server function's own `Deserialize` through
//!   serde's `MapDeserializer`. A form posted without JavaScript is read on the server by
//!   server_fn as before (serde_qs there).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use leptos::prelude::*;
use leptos::server_fn::codec::PostUrl;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr, ServerFnUrlError};
use leptos::server_fn::{Http, ServerFn};
use serde::de::{self, value::MapDeserializer, DeserializeOwned, IntoDeserializer};

use crate::app::error::WorkspaceError;

/// A finished call: the success, worded for the person who submitted the form, or the error.
pub type Outcome = Result<String, WorkspaceError>;

/// A submitted form's server function call, not yet started.
#[derive(Clone)]
pub struct Call(Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>);

/// The one action of an island's forms: how many calls are in flight, the latest finished one's
/// outcome, and a version that counts them (the island's lists reload on it). Copy: pass it to
/// the components that hold forms.
#[derive(Clone, Copy)]
pub struct Forms {
    action: Action<Call, Outcome>,
    /// The error a form posted without JavaScript came back with (`?__err=…`).
    returned: Option<WorkspaceError>,
}

impl Forms {
    /// Call at the top of the island (it reads the error a plain post came back with).
    pub fn new() -> Self {
        provide_returned_error();
        let returned = use_context::<leptos::server::ServerActionError>()
            .map(|error| ServerFnUrlError::<WorkspaceError>::decode_err(error.err()));
        Self { action: Action::new(|call: &Call| (call.0)()), returned }
    }

    /// How many calls have finished (tracked): read it in a resource's source to reload after
    /// each.
    pub fn version(self) -> usize {
        self.action.version().get()
    }

    /// Whether a call is in flight (tracked).
    pub fn pending(self) -> bool {
        self.action.pending().get()
    }

    /// What the header shows (tracked): the latest finished call's outcome, else the error a
    /// form posted without JavaScript came back with (which is also what the server renders).
    fn outcome(self) -> Option<Outcome> {
        self.action.value().get().or(self.returned.map(Err))
    }

    /// The target of forms that call `S`, whose success `describe` puts into words.
    pub fn call<S: ServerFn<Error = WorkspaceError>>(self, describe: fn(S::Output) -> String) -> FormTarget<S> {
        FormTarget { forms: self, describe, changes: None }
    }

    /// Calls `S` with `input`. `run_on_client` is server_fn's own client call (what
    /// `ServerAction` runs; public but undocumented in server_fn 0.8).
    fn dispatch<S>(self, input: S, target: FormTarget<S>)
    where
        S: ServerFn<Error = WorkspaceError> + Clone + Send + Sync + 'static,
    {
        let call = move || -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
            let input = input.clone();
            Box::pin(async move {
                let output = input.run_on_client().await;
                if let Some(changes) = target.changes {
                    changes.update(|n| *n += 1);
                }
                output.map(target.describe)
            })
        };
        self.action.dispatch(Call(Arc::new(call)));
    }

    /// A call that failed before it was made (the form's fields were not its arguments).
    fn fail(self, error: WorkspaceError) {
        let call = move || -> Pin<Box<dyn Future<Output = Outcome> + Send>> { Box::pin(async move { Err(error) }) };
        self.action.dispatch(Call(Arc::new(call)));
    }
}

impl Default for Forms {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a [`PostForm`] goes: the server function `S` through an island's [`Forms`].
pub struct FormTarget<S: ServerFn> {
    forms: Forms,
    describe: fn(S::Output) -> String,
    changes: Option<RwSignal<usize>>,
}

impl<S: ServerFn> FormTarget<S> {
    /// Also counts each finished call into `changes`: a resource that reloads on it reloads
    /// after these forms' calls only, where [`Forms::version`] counts every form's. Failed calls
    /// count too, as a version does (a refused revoke may mean the list shown is stale).
    pub fn counting(self, changes: RwSignal<usize>) -> Self {
        Self { changes: Some(changes), ..self }
    }
}

impl<S: ServerFn> Clone for FormTarget<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ServerFn> Copy for FormTarget<S> {}

/// A `<form method="post" action={the server function's URL}>`: without JavaScript a plain form
/// post, answered by a redirect back to the page (with `?__err=…` on failure); hydrated, its
/// fields call the server function in place through the island's [`Forms`]. A server function
/// that redirects (`leptos_axum::redirect`) sends the browser there. Fields that do not make
/// the server function's arguments (one missing, a number or bool that does not parse) are the
/// call's outcome, as a `Serialization` error (logged). Submit buttons carry no value here
/// (none of ours has a `name`).
#[component]
pub fn PostForm<S, OutputProtocol>(target: FormTarget<S>, children: Children) -> impl IntoView
where
    S: DeserializeOwned
        + ServerFn<Protocol = Http<PostUrl, OutputProtocol>, Error = WorkspaceError>
        + Clone
        + Send
        + Sync
        + 'static,
{
    // As `ActionForm`: a redirect answered to a call in place is followed by the browser.
    // (Set once per page; later calls find it set.)
    #[cfg(feature = "hydrate")]
    let _ = leptos::server_fn::redirect::set_redirect_hook(|location: &str| {
        let _ = window().location().set_href(location);
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        if ev.default_prevented() {
            return;
        }
        ev.prevent_default();
        match FormFields::of_submit(&ev).and_then(|fields| fields.into_args::<S>()) {
            Ok(input) => target.forms.dispatch(input, target),
            Err(message) => {
                leptos::logging::error!("the form's fields are not the server function's arguments: {message}");
                target.forms.fail(<WorkspaceError as FromServerFnError>::from_server_fn_error(
                    ServerFnErrorErr::Serialization(message),
                ));
            }
        }
    };
    view! { <form action=S::url() method="post" on:submit=on_submit>{children()}</form> }
}

/// A page's title with its forms' pending state, and the latest outcome below it: a success
/// message, or the error's text (derived from its code).
#[component]
pub fn ActionHeader(title: &'static str, forms: Forms) -> impl IntoView {
    view! {
        <div class="flex items-center justify-between">
            <h1 class="text-2xl font-semibold">{title}</h1>
            <span class="text-sm text-slate-500" aria-live="polite" data-testid="pending">{move || forms.pending().then_some("Saving…")}</span>
        </div>
        <div aria-live="polite">
            {move || forms.outcome().map(|r| match r {
                Ok(m) => view! { <p class="mt-3 rounded-md bg-emerald-50 px-3 py-2 text-emerald-800" data-testid="flash-ok">{m}</p> }.into_any(),
                Err(e) => view! { <p role="alert" class="mt-3 rounded-md bg-red-50 px-3 py-2 text-red-800" data-testid="flash-error">{e.to_string()}</p> }.into_any(),
            })}
        </div>
    }
}

/// Gives the island the error a form posted without JavaScript came back with
/// (`?__err=…&__path=…`, e.g. posted before the island hydrated), for [`Forms::new`]. On the
/// server the router provides it; in the browser an island has no router, and without this it
/// would start without the error the server rendered (and fail to hydrate).
fn provide_returned_error() {
    #[cfg(feature = "hydrate")]
    {
        let search = window().location().search().unwrap_or_default();
        let (mut err, mut path) = (None, None);
        // Decoded as the router decodes it on the server (the query's pairs, then each value
        // once more), so both sides start from the same text.
        let decode = |value: std::borrow::Cow<str>| {
            percent_encoding::percent_decode_str(&value).decode_utf8_lossy().into_owned()
        };
        for (key, value) in form_urlencoded::parse(search.trim_start_matches('?').as_bytes()) {
            match &*key {
                "__err" => err = Some(decode(value)),
                "__path" => path = Some(decode(value)),
                _ => {}
            }
        }
        if let (Some(err), Some(path)) = (err, path) {
            provide_context(leptos::server::ServerActionError::new(&path, &err));
        }
    }
}

/// A form's fields: the `application/x-www-form-urlencoded` body's name/value pairs, in order,
/// as the same form posted without JavaScript sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormFields(Vec<(String, String)>);

impl FormFields {
    /// The fields of the form `ev` submits (the browser's `FormData`, encoded as the post would
    /// be). Errors: no form, or the browser refused to read it.
    #[cfg(feature = "hydrate")]
    fn of_submit(ev: &leptos::ev::SubmitEvent) -> Result<Self, String> {
        use leptos::wasm_bindgen::JsCast;
        use leptos::web_sys::{FormData, HtmlFormElement, UrlSearchParams};
        let form = ev
            .target()
            .and_then(|target| target.dyn_into::<HtmlFormElement>().ok())
            .ok_or("the submit event has no form")?;
        let data = FormData::new_with_form(&form).map_err(|_| "the browser could not read the form")?;
        let encoded = UrlSearchParams::new_with_str_sequence_sequence(&data)
            .map_err(|_| "the browser could not encode the form")?
            .to_string()
            .as_string()
            .unwrap_or_default();
        Ok(Self::parse(&encoded))
    }

    #[cfg(not(feature = "hydrate"))]
    fn of_submit(_: &leptos::ev::SubmitEvent) -> Result<Self, String> {
        Err("forms are submitted in the browser".into())
    }

    /// The pairs of an urlencoded body (`a=1&b=x+y`).
    #[cfg(any(feature = "hydrate", test))]
    pub fn parse(encoded: &str) -> Self {
        Self(form_urlencoded::parse(encoded.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    /// `T` (a server function's arguments) from the fields by name, read as serde_qs reads the
    /// same fields on the server: strings as they are; numbers and `bool`s parsed (`FromStr`:
    /// `true`/`false`); an empty field is `None` for an `Option`; a unit enum variant by its
    /// name; a newtype around any of these. Flat arguments only (serde_qs's `a[b]=` nesting and
    /// sequences are not read). Errors: serde's message (a missing or duplicated field, a value
    /// that does not parse).
    pub fn into_args<T: DeserializeOwned>(self) -> Result<T, String> {
        let fields = self.0.into_iter().map(|(name, value)| (name, Field(value)));
        T::deserialize(MapDeserializer::<_, de::value::Error>::new(fields)).map_err(|e| e.to_string())
    }
}

/// One field's text.
struct Field(String);

impl<'de> IntoDeserializer<'de, de::value::Error> for Field {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

/// A parsed value (`FromStr`), as serde_qs parses it.
macro_rules! parse_field {
    ($($method:ident => $visit:ident),* $(,)?) => {$(
        fn $method<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            match self.0.parse() {
                Ok(value) => visitor.$visit(value),
                Err(_) => Err(de::Error::invalid_value(de::Unexpected::Str(&self.0), &visitor)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Field {
    type Error = de::value::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_string(self.0)
    }

    parse_field! {
        deserialize_bool => visit_bool,
        deserialize_i8 => visit_i8, deserialize_i16 => visit_i16, deserialize_i32 => visit_i32, deserialize_i64 => visit_i64,
        deserialize_u8 => visit_u8, deserialize_u16 => visit_u16, deserialize_u32 => visit_u32, deserialize_u64 => visit_u64,
        deserialize_f32 => visit_f32, deserialize_f64 => visit_f64,
    }

    /// An empty field is `None`, as in serde_qs.
    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.0.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    /// A newtype around a field's value (`struct Slug(String)`).
    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    /// A unit variant, by its name.
    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(IntoDeserializer::<de::value::Error>::into_deserializer(self.0))
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Archive {
        id: String,
        archived: bool,
        note: Option<String>,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Size {
        Small,
        Large,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Count(u32);

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Order {
        count: Count,
        ratio: f64,
        size: Size,
    }

    #[test]
    fn reads_strings_bools_and_options_by_name() {
        let read: Archive = FormFields::parse("archived=true&id=prj_1+a%26b&note=x").into_args().unwrap();
        assert_eq!(read, Archive { id: "prj_1 a&b".into(), archived: true, note: Some("x".into()) });
        let read: Archive = FormFields::parse("id=p&archived=false").into_args().unwrap();
        assert_eq!(read, Archive { id: "p".into(), archived: false, note: None });
        // An empty field is no value, as serde_qs reads it on the server.
        let read: Archive = FormFields::parse("id=p&archived=false&note=").into_args().unwrap();
        assert_eq!(read.note, None);
    }

    #[test]
    fn parses_numbers_newtypes_and_unit_variants_as_serde_qs_does() {
        let read: Order = FormFields::parse("count=12&ratio=0.5&size=large").into_args().unwrap();
        assert_eq!(read, Order { count: Count(12), ratio: 0.5, size: Size::Large });
        let read: Order = FormFields::parse("count=0&ratio=-2&size=small").into_args().unwrap();
        assert_eq!(read, Order { count: Count(0), ratio: -2.0, size: Size::Small });
    }

    #[test]
    fn refuses_what_the_arguments_are_not() {
        let refused = |fields: &str| FormFields::parse(fields).into_args::<Archive>().unwrap_err();
        assert!(refused("archived=true").contains("missing field `id`"), "{}", refused("archived=true"));
        assert!(
            refused("id=p&archived=on").contains(r#"invalid value: string "on""#),
            "{}",
            refused("id=p&archived=on")
        );
        assert!(refused("id=p&id=q&archived=true").contains("duplicate field `id`"));
        let refused = |fields: &str| FormFields::parse(fields).into_args::<Order>().unwrap_err();
        assert!(refused("count=-1&ratio=1&size=small").contains(r#"invalid value: string "-1""#));
        assert!(refused("count=1&ratio=x&size=small").contains(r#"invalid value: string "x""#));
        assert!(refused("count=1&ratio=1&size=medium").contains("unknown variant `medium`"));
    }
}
